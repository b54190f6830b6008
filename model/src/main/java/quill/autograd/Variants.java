package quill.autograd;

import quill.kernels.Elements;
import quill.kernels.PointwiseKernel;
import quill.kernels.QkNormRopeKernel;
import quill.kernels.RmsNormKernel;
import quill.kernels.Rope;
import quill.kernels.SwigluKernel;
import quill.runtime.Parallel;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The functions of the architecture switches ({@code quill.model.Architecture}) that nanoGPT does not have:
 * RMSNorm, QK-norm and rotary embeddings, ReLU squared, SwiGLU and the logit soft-cap. Like {@link Nn}'s, each
 * is a loop over the elements with its backward right beside it, checked against finite differences in
 * float64 and against the same function composed from {@link Ops} ({@code VariantsTest}).
 *
 * <p>The loops themselves are in the kernels beside this file ({@link RmsNormKernel}, {@link QkNormRopeKernel},
 * {@link SwigluKernel}, {@link PointwiseKernel}), most in a double and a float version, line for line the same
 * math ({@code VariantsTest} checks they agree to float rounding).
 */
public final class Variants {
    private Variants() {
    }

    /** RMSNorm's and QK-norm's epsilon, as in the reference (and LLaMA). */
    public static final double RMS_NORM_EPS = RmsNormKernel.EPS;

    private static final int ROWS_PER_CHUNK = 64;

    /**
     * RMSNorm over the last axis (Zhang &amp; Sennrich 2019): {@code x * rsqrt(mean(x^2) + eps) * w}. Unlike
     * LayerNorm it neither subtracts the mean nor adds a bias: only the scale of each vector is normalised.
     */
    public static Tensor rmsNorm(Tensor x, Tensor weight, double eps) {
        int c = (int) x.size(x.rank() - 1), n = (int) (x.value().length() / c);
        INDArray out = Elements.empty(x.dataType(), x.shape());
        Elements in = new Elements(Elements.contiguousCopy(x.value())), y = new Elements(out);
        Elements w = new Elements(Elements.contiguousCopy(weight.value()));
        double[] rstd = new double[n];                                          // rsqrt(mean(x^2) + eps) per row
        Parallel.range(n, ROWS_PER_CHUNK, (chunk, from, to) ->   // y = x * rsqrt(mean(x^2) + eps) * w
                RmsNormKernel.forward(in, w, y, rstd, c, eps, from, to));
        return Tensor.op("rmsNorm", out, g -> {
            Elements dy = new Elements(Elements.contiguousCopy(g));
            INDArray dxArray = Elements.empty(x.dataType(), x.shape());
            Elements dx = new Elements(dxArray);
            double[][] dw = new double[Parallel.chunks(n, ROWS_PER_CHUNK)][c];  // per chunk, summed in order below
            // xhat = x * rstd:  dw = sum_rows g xhat,  dx = rstd (g w - xhat mean(g w xhat))
            Parallel.range(n, ROWS_PER_CHUNK, (chunk, from, to) ->
                    RmsNormKernel.backward(in, w, dy, dx, rstd, dw[chunk], c, from, to));
            for (int k = 1; k < dw.length; k++) for (int j = 0; j < c; j++) dw[0][j] += dw[k][j];
            x.addFreshGrad(dxArray);
            weight.addFreshGrad(Nd4j.create(dw[0], new long[]{c}, weight.dataType()));
        }, x, weight);
    }

    /**
     * Makes the queries and keys of a fused {@code c_attn} output (B, T, 3C: q, k and v side by side, each
     * head's hs channels together) ready for attention, per head and position: QK-norm divides q and k by
     * their RMS (no weight), then {@code rope} rotates them by their position ({@code pos0 + t}). v is
     * copied as it is. Doing both on the fused array keeps the attention kernel the same for every variant.
     *
     * @param rope null for no rotation
     */
    public static Tensor qkNormRope(Tensor qkv, int nHead, boolean qkNorm, Rope rope, int pos0) {
        int b = (int) qkv.size(0), t = (int) qkv.size(1), c3 = (int) qkv.size(2), c = c3 / 3, hs = c / nHead;
        int rows = b * t;
        INDArray out = Elements.empty(qkv.dataType(), qkv.shape());
        Elements in = new Elements(Elements.contiguousCopy(qkv.value())), y = new Elements(out);
        double[] rstd = qkNorm ? new double[rows * 2 * nHead] : null;           // per row, q and k, head
        if (rope != null) rope.checkPosition(pos0 + t - 1);
        // per head of q and k: x = x * rsqrt(mean(x^2) + eps), then x = x cos + rotate_half(x) sin
        Parallel.range(rows, ROWS_PER_CHUNK, (chunk, from, to) ->
                QkNormRopeKernel.forward(in, y, rstd, nHead, hs, c3, t, pos0, qkNorm, rope, from, to));
        return Tensor.op("qkNormRope", out, g -> {
            INDArray dxArray = Elements.empty(qkv.dataType(), qkv.shape());
            Elements dy = new Elements(Elements.contiguousCopy(g)), dx = new Elements(dxArray);
            // the rotation's gradient turns back by the same angle, then QK-norm's backward as RMSNorm's
            Parallel.range(rows, ROWS_PER_CHUNK, (chunk, from, to) ->
                    QkNormRopeKernel.backward(in, dy, dx, rstd, nHead, hs, c3, t, pos0, qkNorm, rope, from, to));
            qkv.addFreshGrad(dxArray);
        }, qkv);
    }


    /** ReLU squared (So et al. 2021, "Primer"; modded-nanogpt's MLP): {@code relu(x)^2}. */
    public static Tensor reluSquared(Tensor x) {
        INDArray in = Elements.contiguousCopy(x.value());
        INDArray out = PointwiseKernel.reluSquared(in);                        // y = relu(x)^2
        return Tensor.op("reluSquared", out, g ->
                x.addFreshGrad(PointwiseKernel.reluSquaredBackward(in, g)), x); // dx = g * 2 relu(x)
    }

    /**
     * The logit soft-cap (Gemma 2; modded-nanogpt): {@code c * tanh(x / c)}, close to x for small logits and
     * never beyond +-c, so no logit can grow without bound.
     */
    public static Tensor softcap(Tensor x, double cap) {
        INDArray out = PointwiseKernel.softcap(Elements.contiguousCopy(x.value()), cap); // y = c tanh(x / c)
        return Tensor.op("softcap", out, g ->
                x.addFreshGrad(PointwiseKernel.softcapBackward(out, g, cap)), x); // dx = g (1 - (y / c)^2)
    }

    /**
     * SwiGLU (Shazeer 2020, "GLU Variants Improve Transformer"; LLaMA's MLP): the last axis of {@code h}
     * (..., 2H) holds a gate g (the first H) and a value u (the last H); the result (..., H) is
     * {@code silu(g) * u} with {@code silu(g) = g * sigmoid(g)}.
     */
    public static Tensor swiglu(Tensor h) {
        int h2 = (int) h.size(h.rank() - 1), hid = h2 / 2, n = (int) (h.value().length() / h2);
        long[] shape = h.shape().clone();
        shape[shape.length - 1] = hid;
        INDArray out = Elements.empty(h.dataType(), shape);
        Elements in = new Elements(Elements.contiguousCopy(h.value())), y = new Elements(out);
        Parallel.range(n, ROWS_PER_CHUNK, (chunk, from, to) ->
                SwigluKernel.forward(in, y, hid, from, to));                     // y = silu(g) * u
        return Tensor.op("swiglu", out, g -> {
            INDArray dxArray = Elements.empty(h.dataType(), h.shape());
            Elements dy = new Elements(Elements.contiguousCopy(g)), dx = new Elements(dxArray);
            // dg = dy u s (1 + g (1 - s)) with s = sigmoid(g),  du = dy silu(g)
            Parallel.range(n, ROWS_PER_CHUNK, (chunk, from, to) -> SwigluKernel.backward(in, dy, dx, hid, from, to));
            h.addFreshGrad(dxArray);
        }, h);
    }
}
