package quill.autograd;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The functions of the architecture switches ({@code quill.model.Architecture}) that nanoGPT does not have:
 * RMSNorm, QK-norm and rotary embeddings, ReLU squared, SwiGLU and the logit soft-cap. Like {@link Nn}'s, each
 * is a loop over the elements with its backward right beside it, checked against finite differences in
 * float64 and against the same function composed from {@link Ops} ({@code VariantsTest}).
 *
 * <p>Each loop comes twice: over doubles, the readable one, for DOUBLE arrays (gradient checks, PyTorch's float64
 * dumps), and over floats for FLOAT arrays (training), as {@link Nn}'s layer norm does: no conversion to double
 * and back, and short loops the JIT turns into SIMD code; sums over a row are still kept in double. The float
 * loops are the double ones line for line ({@code VariantsTest} checks they agree to float rounding).
 */
public final class Variants {
    private Variants() {
    }

    /** RMSNorm's and QK-norm's epsilon, as in the reference (and LLaMA). */
    public static final double RMS_NORM_EPS = 1e-5;

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
        Parallel.range(n, ROWS_PER_CHUNK, (chunk, from, to) -> {
            if (in.isDouble()) rmsNormRows(in, w, y, rstd, c, eps, from, to);
            else rmsNormRowsFloat(in, w, y, rstd, c, eps, from, to);
        });
        return Tensor.op("rmsNorm", out, g -> {
            Elements dy = new Elements(Elements.contiguousCopy(g));
            INDArray dxArray = Elements.empty(x.dataType(), x.shape());
            Elements dx = new Elements(dxArray);
            double[][] dw = new double[Parallel.chunks(n, ROWS_PER_CHUNK)][c];  // per chunk, summed in order below
            Parallel.range(n, ROWS_PER_CHUNK, (chunk, from, to) -> {
                if (in.isDouble()) rmsNormBackwardRows(in, w, dy, dx, rstd, dw[chunk], c, from, to);
                else rmsNormBackwardRowsFloat(in, w, dy, dx, rstd, dw[chunk], c, from, to);
            });
            for (int k = 1; k < dw.length; k++) for (int j = 0; j < c; j++) dw[0][j] += dw[k][j];
            x.addFreshGrad(dxArray);
            weight.addFreshGrad(Nd4j.create(dw[0], new long[]{c}, weight.dataType()));
        }, x, weight);
    }

    /** RMSNorm of rows [from, to) of doubles, keeping each row's rstd for the backward. */
    private static void rmsNormRows(Elements in, Elements we, Elements y, double[] rstd, int c, double eps, int from,
                                    int to) {
        double[] row = new double[c], w = new double[c];
        we.get(0, w, c);
        for (int r = from; r < to; r++) {
            in.get(r * c, row, c);
            rstd[r] = rstd(row, 0, c, eps);
            for (int j = 0; j < c; j++) row[j] *= rstd[r] * w[j];             // y = x * rstd * w
            y.put(r * c, row, c);
        }
    }

    /** As {@link #rmsNormRows}, on floats; the mean square is summed in double. */
    private static void rmsNormRowsFloat(Elements in, Elements we, Elements y, double[] rstd, int c, double eps,
                                         int from, int to) {
        float[] row = new float[c], w = new float[c];
        we.get(0, w, c);
        for (int r = from; r < to; r++) {
            in.get(r * c, row, c);
            rstd[r] = rstd(row, 0, c, eps);
            float s = (float) rstd[r];
            for (int j = 0; j < c; j++) row[j] *= s * w[j];                   // y = x * rstd * w
            y.put(r * c, row, c);
        }
    }

    /** RMSNorm's backward over rows [from, to) of doubles: writes dx and adds the rows' share of dw. */
    private static void rmsNormBackwardRows(Elements in, Elements we, Elements dy, Elements dx, double[] rstd,
                                            double[] dw, int c, int from, int to) {
        double[] xr = new double[c], gr = new double[c], w = new double[c];
        we.get(0, w, c);
        for (int r = from; r < to; r++) {
            in.get(r * c, xr, c);
            dy.get(r * c, gr, c);
            for (int j = 0; j < c; j++) {
                dw[j] += gr[j] * xr[j] * rstd[r];                               // y = xhat * w:  dw += g * xhat
                gr[j] *= w[j];                                                 // dxhat = g * w
            }
            rmsBackward(xr, gr, 0, c, rstd[r]);
            dx.put(r * c, gr, c);
        }
    }

    /** As {@link #rmsNormBackwardRows}, on floats; dw and the row's dot product are kept in double. */
    private static void rmsNormBackwardRowsFloat(Elements in, Elements we, Elements dy, Elements dx, double[] rstd,
                                                 double[] dw, int c, int from, int to) {
        float[] xr = new float[c], gr = new float[c], w = new float[c];
        we.get(0, w, c);
        for (int r = from; r < to; r++) {
            in.get(r * c, xr, c);
            dy.get(r * c, gr, c);
            float s = (float) rstd[r];
            for (int j = 0; j < c; j++) {
                dw[j] += gr[j] * xr[j] * s;                                     // y = xhat * w:  dw += g * xhat
                gr[j] *= w[j];                                                 // dxhat = g * w
            }
            rmsBackward(xr, gr, 0, c, rstd[r]);
            dx.put(r * c, gr, c);
        }
    }

    /** {@code 1 / sqrt(mean(v[from..from+len)^2) + eps)}. */
    private static double rstd(double[] v, int from, int len, double eps) {
        double ss = 0;
        for (int j = from; j < from + len; j++) ss += v[j] * v[j];
        return 1 / Math.sqrt(ss / len + eps);
    }

    /** As {@link #rstd(double[], int, int, double)}, of floats, summed in double. */
    private static double rstd(float[] v, int from, int len, double eps) {
        double ss = 0;
        for (int j = from; j < from + len; j++) ss += v[j] * v[j];
        return 1 / Math.sqrt(ss / len + eps);
    }

    /**
     * In place, {@code d[from..from+len)} from d xhat to d x, where {@code xhat = x * rstd}:
     * {@code dx = rstd * (dxhat - xhat * mean(dxhat * xhat))}.
     */
    private static void rmsBackward(double[] x, double[] d, int from, int len, double rstd) {
        double dot = 0;
        for (int j = from; j < from + len; j++) dot += d[j] * x[j] * rstd;
        dot /= len;
        for (int j = from; j < from + len; j++) d[j] = rstd * (d[j] - x[j] * rstd * dot);
    }

    /** As {@link #rmsBackward(double[], double[], int, int, double)}, on floats; the dot product in double. */
    private static void rmsBackward(float[] x, float[] d, int from, int len, double rstd) {
        double dot = 0;
        for (int j = from; j < from + len; j++) dot += d[j] * x[j];
        float s = (float) rstd, k = (float) (rstd * rstd * dot / len);
        for (int j = from; j < from + len; j++) d[j] = s * (d[j] - x[j] * k);
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
        Parallel.range(rows, ROWS_PER_CHUNK, (chunk, from, to) -> {
            if (in.isDouble()) qkNormRopeRows(in, y, rstd, nHead, hs, c3, t, pos0, qkNorm, rope, from, to);
            else qkNormRopeRowsFloat(in, y, rstd, nHead, hs, c3, t, pos0, qkNorm, rope, from, to);
        });
        return Tensor.op("qkNormRope", out, g -> {
            INDArray dxArray = Elements.empty(qkv.dataType(), qkv.shape());
            Elements dy = new Elements(Elements.contiguousCopy(g)), dx = new Elements(dxArray);
            Parallel.range(rows, ROWS_PER_CHUNK, (chunk, from, to) -> {
                if (in.isDouble()) {
                    qkNormRopeBackwardRows(in, dy, dx, rstd, nHead, hs, c3, t, pos0, qkNorm, rope, from, to);
                } else {
                    qkNormRopeBackwardRowsFloat(in, dy, dx, rstd, nHead, hs, c3, t, pos0, qkNorm, rope, from, to);
                }
            });
            qkv.addFreshGrad(dxArray);
        }, qkv);
    }

    /** {@link #qkNormRope} over rows [from, to) of doubles, keeping each head's rstd (when qkNorm) for the backward. */
    private static void qkNormRopeRows(Elements in, Elements y, double[] rstd, int nHead, int hs, int c3, int t,
                                       int pos0, boolean qkNorm, Rope rope, int from, int to) {
        double[] row = new double[c3];
        for (int r = from; r < to; r++) {
            in.get(r * c3, row, c3);
            int pos = pos0 + r % t;
            for (int head = 0; head < 2 * nHead; head++) {                      // q's heads, then k's
                int at = head * hs;
                if (qkNorm) {
                    double s = rstd(row, at, hs, RMS_NORM_EPS);
                    rstd[r * 2 * nHead + head] = s;
                    for (int j = at; j < at + hs; j++) row[j] *= s;            // x = x * rsqrt(mean(x^2) + eps)
                }
                if (rope != null) rope.rotate(row, at, pos, false);           // x = x cos + rotate_half(x) sin
            }
            y.put(r * c3, row, c3);
        }
    }

    /** As {@link #qkNormRopeRows}, on floats. */
    private static void qkNormRopeRowsFloat(Elements in, Elements y, double[] rstd, int nHead, int hs, int c3, int t,
                                            int pos0, boolean qkNorm, Rope rope, int from, int to) {
        float[] row = new float[c3];
        for (int r = from; r < to; r++) {
            in.get(r * c3, row, c3);
            int pos = pos0 + r % t;
            for (int head = 0; head < 2 * nHead; head++) {
                int at = head * hs;
                if (qkNorm) {
                    double s = rstd(row, at, hs, RMS_NORM_EPS);
                    rstd[r * 2 * nHead + head] = s;
                    float sf = (float) s;
                    for (int j = at; j < at + hs; j++) row[j] *= sf;
                }
                if (rope != null) rope.rotate(row, at, pos, false);
            }
            y.put(r * c3, row, c3);
        }
    }

    /** {@link #qkNormRope}'s backward over rows [from, to) of doubles. */
    private static void qkNormRopeBackwardRows(Elements in, Elements dy, Elements dx, double[] rstd, int nHead, int hs,
                                               int c3, int t, int pos0, boolean qkNorm, Rope rope, int from, int to) {
        double[] gr = new double[c3], xr = new double[c3];
        for (int r = from; r < to; r++) {
            dy.get(r * c3, gr, c3);
            if (qkNorm) in.get(r * c3, xr, c3);
            int pos = pos0 + r % t;
            for (int head = 0; head < 2 * nHead; head++) {
                int at = head * hs;
                if (rope != null) rope.rotate(gr, at, pos, true);               // a rotation's gradient turns back
                if (qkNorm) rmsBackward(xr, gr, at, hs, rstd[r * 2 * nHead + head]);
            }
            dx.put(r * c3, gr, c3);                                            // v: the gradient as it came
        }
    }

    /** As {@link #qkNormRopeBackwardRows}, on floats. */
    private static void qkNormRopeBackwardRowsFloat(Elements in, Elements dy, Elements dx, double[] rstd, int nHead,
                                                    int hs, int c3, int t, int pos0, boolean qkNorm, Rope rope,
                                                    int from, int to) {
        float[] gr = new float[c3], xr = new float[c3];
        for (int r = from; r < to; r++) {
            dy.get(r * c3, gr, c3);
            if (qkNorm) in.get(r * c3, xr, c3);
            int pos = pos0 + r % t;
            for (int head = 0; head < 2 * nHead; head++) {
                int at = head * hs;
                if (rope != null) rope.rotate(gr, at, pos, true);
                if (qkNorm) rmsBackward(xr, gr, at, hs, rstd[r * 2 * nHead + head]);
            }
            dx.put(r * c3, gr, c3);
        }
    }

    /** ReLU squared (So et al. 2021, "Primer"; modded-nanogpt's MLP): {@code relu(x)^2}. */
    public static Tensor reluSquared(Tensor x) {
        INDArray in = Elements.contiguousCopy(x.value());
        INDArray out = map(in, (a, y, n) -> {
            for (int i = 0; i < n; i++) y[i] = a[i] > 0 ? a[i] * a[i] : 0;    // y = relu(x)^2
        }, (a, y, n) -> {
            for (int i = 0; i < n; i++) y[i] = a[i] > 0 ? a[i] * a[i] : 0;
        });
        return Tensor.op("reluSquared", out, g -> x.addFreshGrad(zip(in, g, (a, d, dx, n) -> {
            for (int i = 0; i < n; i++) dx[i] = a[i] > 0 ? 2 * a[i] * d[i] : 0; // dx = g * 2 relu(x)
        }, (a, d, dx, n) -> {
            for (int i = 0; i < n; i++) dx[i] = a[i] > 0 ? 2 * a[i] * d[i] : 0;
        })), x);
    }

    /**
     * The logit soft-cap (Gemma 2; modded-nanogpt): {@code c * tanh(x / c)}, close to x for small logits and
     * never beyond +-c, so no logit can grow without bound.
     */
    public static Tensor softcap(Tensor x, double cap) {
        float capF = (float) cap;
        INDArray out = map(Elements.contiguousCopy(x.value()), (a, y, n) -> {
            for (int i = 0; i < n; i++) y[i] = cap * Math.tanh(a[i] / cap);   // y = c tanh(x / c)
        }, (a, y, n) -> {
            for (int i = 0; i < n; i++) y[i] = (float) (cap * Math.tanh(a[i] / cap));
        });
        return Tensor.op("softcap", out, g -> x.addFreshGrad(zip(out, g, (y, d, dx, n) -> {
            for (int i = 0; i < n; i++) dx[i] = d[i] * (1 - (y[i] / cap) * (y[i] / cap)); // dx = g (1 - tanh^2)
        }, (y, d, dx, n) -> {
            for (int i = 0; i < n; i++) dx[i] = d[i] * (1 - (y[i] / capF) * (y[i] / capF));
        })), x);
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
        Parallel.range(n, ROWS_PER_CHUNK, (chunk, from, to) -> {
            if (in.isDouble()) {
                double[] row = new double[h2], o = new double[hid];
                for (int r = from; r < to; r++) {
                    in.get(r * h2, row, h2);
                    for (int j = 0; j < hid; j++) o[j] = row[j] * sigmoid(row[j]) * row[hid + j]; // silu(g) * u
                    y.put(r * hid, o, hid);
                }
            } else {
                float[] row = new float[h2], o = new float[hid];
                for (int r = from; r < to; r++) {
                    in.get(r * h2, row, h2);
                    for (int j = 0; j < hid; j++) o[j] = row[j] * sigmoid(row[j]) * row[hid + j];
                    y.put(r * hid, o, hid);
                }
            }
        });
        return Tensor.op("swiglu", out, g -> {
            INDArray dxArray = Elements.empty(h.dataType(), h.shape());
            Elements dy = new Elements(Elements.contiguousCopy(g)), dx = new Elements(dxArray);
            Parallel.range(n, ROWS_PER_CHUNK, (chunk, from, to) -> {
                if (in.isDouble()) swigluBackwardRows(in, dy, dx, hid, from, to);
                else swigluBackwardRowsFloat(in, dy, dx, hid, from, to);
            });
            h.addFreshGrad(dxArray);
        }, h);
    }

    /** SwiGLU's backward over rows [from, to) of doubles. */
    private static void swigluBackwardRows(Elements in, Elements dy, Elements dx, int hid, int from, int to) {
        double[] row = new double[2 * hid], gr = new double[hid], d = new double[2 * hid];
        for (int r = from; r < to; r++) {
            in.get(r * 2 * hid, row, 2 * hid);
            dy.get(r * hid, gr, hid);
            for (int j = 0; j < hid; j++) {
                double gate = row[j], u = row[hid + j], s = sigmoid(gate);
                d[j] = gr[j] * u * s * (1 + gate * (1 - s));                    // d silu(g) / dg = s (1 + g (1 - s))
                d[hid + j] = gr[j] * gate * s;                                 // d / du = silu(g)
            }
            dx.put(r * 2 * hid, d, 2 * hid);
        }
    }

    /** As {@link #swigluBackwardRows}, on floats. */
    private static void swigluBackwardRowsFloat(Elements in, Elements dy, Elements dx, int hid, int from, int to) {
        float[] row = new float[2 * hid], gr = new float[hid], d = new float[2 * hid];
        for (int r = from; r < to; r++) {
            in.get(r * 2 * hid, row, 2 * hid);
            dy.get(r * hid, gr, hid);
            for (int j = 0; j < hid; j++) {
                float gate = row[j], u = row[hid + j], s = sigmoid(gate);
                d[j] = gr[j] * u * s * (1 + gate * (1 - s));
                d[hid + j] = gr[j] * gate * s;
            }
            dx.put(r * 2 * hid, d, 2 * hid);
        }
    }

    private static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    private static float sigmoid(float x) {
        return (float) (1 / (1 + Math.exp(-x)));
    }

    private interface Map1 {
        void apply(double[] a, double[] y, int n);
    }

    private interface Map1Float {
        void apply(float[] a, float[] y, int n);
    }

    private interface Map2 {
        void apply(double[] a, double[] b, double[] y, int n);
    }

    private interface Map2Float {
        void apply(float[] a, float[] b, float[] y, int n);
    }

    /** A new array of {@code a}'s shape, {@code f} (DOUBLE) or {@code ff} (FLOAT) applied block by block. */
    private static INDArray map(INDArray a, Map1 f, Map1Float ff) {
        INDArray out = Elements.empty(a.dataType(), a.shape());
        Elements in = new Elements(a), y = new Elements(out);
        Parallel.range(in.length(), 4 * Elements.BLOCK, (chunk, start, end) -> {
            if (in.isDouble()) {
                double[] x = new double[Elements.BLOCK], r = new double[Elements.BLOCK];
                for (int i = start; i < end; i += Elements.BLOCK) {
                    int m = Math.min(Elements.BLOCK, end - i);
                    in.get(i, x, m);
                    f.apply(x, r, m);
                    y.put(i, r, m);
                }
            } else {
                float[] x = new float[Elements.BLOCK], r = new float[Elements.BLOCK];
                for (int i = start; i < end; i += Elements.BLOCK) {
                    int m = Math.min(Elements.BLOCK, end - i);
                    in.get(i, x, m);
                    ff.apply(x, r, m);
                    y.put(i, r, m);
                }
            }
        });
        return out;
    }

    /** As {@link #map} over two arrays of one shape ({@code b} may be a view). */
    private static INDArray zip(INDArray a, INDArray b, Map2 f, Map2Float ff) {
        INDArray out = Elements.empty(a.dataType(), a.shape());
        Elements ea = new Elements(a), eb = new Elements(Elements.contiguousCopy(b)), y = new Elements(out);
        Parallel.range(ea.length(), 4 * Elements.BLOCK, (chunk, start, end) -> {
            if (ea.isDouble()) {
                double[] x1 = new double[Elements.BLOCK], x2 = new double[Elements.BLOCK];
                double[] r = new double[Elements.BLOCK];
                for (int i = start; i < end; i += Elements.BLOCK) {
                    int m = Math.min(Elements.BLOCK, end - i);
                    ea.get(i, x1, m);
                    eb.get(i, x2, m);
                    f.apply(x1, x2, r, m);
                    y.put(i, r, m);
                }
            } else {
                float[] x1 = new float[Elements.BLOCK], x2 = new float[Elements.BLOCK], r = new float[Elements.BLOCK];
                for (int i = start; i < end; i += Elements.BLOCK) {
                    int m = Math.min(Elements.BLOCK, end - i);
                    ea.get(i, x1, m);
                    eb.get(i, x2, m);
                    ff.apply(x1, x2, r, m);
                    y.put(i, r, m);
                }
            }
        });
        return out;
    }
}
