package quill.autograd;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastAddOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.api.ops.impl.transforms.custom.LogSoftMax;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Erf;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The neural-network functions a GPT is made of, as in {@code torch.nn.functional}: each computes its
 * output with a few large ND4J calls and differentiates it by hand right below, with the math in the
 * comments. Each is checked against finite differences, and the fused ones (layer norm, GELU, softmax,
 * cross-entropy) also against the same function composed from {@link Ops}.
 */
public final class Nn {
    private Nn() {
    }

    /** PyTorch's default LayerNorm epsilon. */
    public static final double LAYER_NORM_EPS = 1e-5;

    /**
     * {@code y = x W^T + b}: (..., in) to (..., out), with the weight in PyTorch's nn.Linear layout
     * [out, in]; {@code bias} may be null. The products are gemms into contiguous outputs.
     */
    public static Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        long out = weight.size(0), in = weight.size(1);
        if (x.size(x.rank() - 1) != in) {
            throw new IllegalArgumentException("linear: input " + Arrays.toString(x.shape())
                    + " does not end in " + in + ", the weight's input size " + Arrays.toString(weight.shape()));
        }
        long n = x.value().length() / in;
        INDArray x2 = x.value().reshape('c', n, in);                                   // (N, in)
        INDArray y2 = Nd4j.createUninitialized(x.dataType(), new long[]{n, out}, 'c'); // (N, out)
        Nd4j.gemm(x2, weight.value(), y2, false, true, 1.0, 0.0);                     // y = x W^T
        if (bias != null) y2.addiRowVector(bias.value());                              //   + b
        long[] shape = x.shape().clone();
        shape[shape.length - 1] = out;
        Tensor[] parents = bias == null ? new Tensor[]{x, weight} : new Tensor[]{x, weight, bias};
        return Tensor.op("linear", y2.reshape('c', shape), g -> {
            INDArray g2 = g.reshape('c', n, out);                                      // (N, out)
            x.addGemmGrad(g2, weight.value(), false, false, n);                        // dx  = g W
            weight.addGemmGrad(g2, x2, true, false, out);                              // dW += g^T x
            if (bias != null) bias.addFreshGrad(g2.sum(0));                            // db += sum_rows g
        }, parents);
    }

    /** Rows of {@code weight} picked by token ids: ids (B, T) to (B, T, C). Repeated ids add their gradients. */
    public static Tensor embedding(Tensor weight, int[][] ids) {
        long vocab = weight.size(0), c = weight.size(1);
        int b = ids.length, t = ids[0].length;
        int[] flat = new int[b * t];
        for (int i = 0; i < b; i++) {
            if (ids[i].length != t) throw new IllegalArgumentException("embedding: rows of ids differ in length");
            for (int j = 0; j < t; j++) {
                int id = ids[i][j];
                if (id < 0 || id >= vocab) {
                    throw new IllegalArgumentException("embedding: id " + id + " is outside the table's " + vocab + " rows");
                }
                flat[i * t + j] = id;
            }
        }
        INDArray out = Nd4j.pullRows(weight.value(), 1, flat, 'c').reshape('c', b, t, c); // out[b, t] = W[ids[b, t]]
        return Tensor.op("embedding", out, g -> {                                      // dW[ids[b, t]] += g[b, t]
            double[] gd = doubles(g);
            double[] dw = new double[(int) (vocab * c)];
            for (int i = 0; i < flat.length; i++) {
                int row = (int) (flat[i] * c), from = (int) (i * c);
                for (int k = 0; k < c; k++) dw[row + k] += gd[from + k];
            }
            weight.addFreshGrad(Nd4j.create(dw, new long[]{vocab, c}, weight.dataType()));
        }, weight);
    }

    /**
     * Layer normalisation over the last axis, as torch's LayerNorm: {@code (x - mean) / sqrt(var + eps) * w + b}
     * with the biased variance; {@code bias} may be null.
     */
    public static Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, double eps) {
        long c = x.size(x.rank() - 1), n = x.value().length() / c;
        INDArray x2 = x.value().reshape('c', n, c);                       // (N, C)
        INDArray mean = x2.mean(true, 1);                                 // (N, 1)
        INDArray xhat = x2.subColumnVector(mean);                         // x - mean
        INDArray rstd = xhat.mul(xhat).mean(true, 1).addi(eps);          // var + eps, (N, 1)
        Transforms.pow(rstd, -0.5, false);                                // rstd = 1 / sqrt(var + eps)
        xhat.muliColumnVector(rstd);                                      // xhat = (x - mean) * rstd
        INDArray y = xhat.mulRowVector(weight.value());                   // y = xhat * w
        if (bias != null) y.addiRowVector(bias.value());                  //   + b
        Tensor[] parents = bias == null ? new Tensor[]{x, weight} : new Tensor[]{x, weight, bias};
        return Tensor.op("layerNorm", y.reshape('c', x.shape()), g -> {
            INDArray g2 = g.reshape('c', n, c);
            if (bias != null) bias.addFreshGrad(g2.sum(0));               // y = ... + b:    db = sum_rows g
            weight.addFreshGrad(g2.mul(xhat).sum(0));                     // y = xhat * w:   dw = sum_rows g * xhat
            if (!x.requiresGrad()) return;
            INDArray dxhat = g2.mulRowVector(weight.value());             //                 dxhat = g * w
            // xhat = (x - mean) * rstd:  dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
            INDArray meanDxhat = dxhat.mean(true, 1);
            INDArray meanDxhatXhat = dxhat.mul(xhat).mean(true, 1);
            INDArray dx = dxhat.subiColumnVector(meanDxhat).subi(xhat.mulColumnVector(meanDxhatXhat)).muliColumnVector(rstd);
            x.addFreshGrad(dx);
        }, parents);
    }

    /** GELU exactly as PyTorch's default: {@code x * Phi(x)}, Phi the normal CDF {@code (1 + erf(x / sqrt 2)) / 2}. */
    public static Tensor gelu(Tensor x) {
        INDArray cdf = x.value().mul(1 / Math.sqrt(2));
        Nd4j.exec(new Erf(cdf, cdf));
        cdf.addi(1).muli(0.5);                                            // Phi(x) = (1 + erf(x / sqrt 2)) / 2
        INDArray out = x.value().mul(cdf);                                // out = x * Phi(x)
        return Tensor.op("gelu", out, g -> {
            // out = x * Phi(x):  d out / dx = Phi(x) + x * phi(x), with phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
            INDArray d = x.value().mul(x.value()).muli(-0.5);
            Transforms.exp(d, false);
            d.muli(x.value()).muli(1 / Math.sqrt(2 * Math.PI)).addi(cdf).muli(g);
            x.addFreshGrad(d);
        }, x);
    }

    /** Softmax over the last axis. */
    public static Tensor softmax(Tensor x) {
        long len = x.size(x.rank() - 1), n = x.value().length() / len;
        INDArray x2 = x.value().reshape('c', n, len);
        INDArray y = Nd4j.exec(new SoftMax(x2, x2.ulike(), 1))[0];        // y = exp(x) / sum exp(x)
        return Tensor.op("softmax", y.reshape('c', x.shape()), g -> {
            // y = softmax(x):  dx = y * (g - sum(g * y))
            INDArray g2 = g.reshape('c', n, len);
            INDArray dot = g2.mul(y).sum(true, 1);
            x.addFreshGrad(g2.subColumnVector(dot).muli(y));
        }, x);
    }

    /**
     * Causal masking of attention scores (..., T, T): a query at position i may not look at keys after i,
     * so those scores become -inf (softmax then gives them weight 0), as nanoGPT's masked_fill.
     */
    public static Tensor causalMask(Tensor scores) {
        int r = scores.rank();
        long t = scores.size(r - 1);
        if (scores.size(r - 2) != t) throw new IllegalArgumentException("causalMask: scores must be (..., T, T)");
        INDArray s3 = scores.value().reshape('c', scores.value().length() / (t * t), t, t);
        INDArray out = s3.ulike();
        Nd4j.exec(new BroadcastAddOp(s3, causalBias(t, scores.dataType()), out, 1, 2)); // out = scores + (0 or -inf)
        return Tensor.op("causalMask", out.reshape('c', scores.shape()), g -> {         // masked scores get no gradient
            INDArray g3 = g.reshape('c', s3.shape());
            INDArray dx = g3.ulike();
            Nd4j.exec(new BroadcastMulOp(g3, causalKeep(t, scores.dataType()), dx, 1, 2));
            scores.addFreshGrad(dx);
        }, scores);
    }

    /**
     * Inverted dropout: zeroes each element with probability p and scales the rest by 1 / (1 - p).
     * A null {@code rng} means evaluation: no dropout.
     */
    public static Tensor dropout(Tensor x, double p, Rng rng) {
        if (p == 0 || rng == null) return x;
        INDArray mask = dropoutMask(x.shape(), x.dataType(), p, rng);
        INDArray out = x.value().mul(mask);                               // out = x * mask
        return Tensor.op("dropout", out, g -> x.addFreshGrad(g.mul(mask)), x);
    }

    /**
     * Mean cross-entropy of the softmax of {@code logits} (B, T, V) against target ids (B, T); targets of
     * -1 are ignored (PyTorch's ignore_index). The softmax and the loss are fused: d loss / d logits =
     * (softmax - onehot) / count.
     */
    public static Tensor crossEntropy(Tensor logits, int[][] targets) {
        long v = logits.size(logits.rank() - 1), n = logits.value().length() / v;
        int t = targets[0].length;
        if (targets.length * (long) t != n) {
            throw new IllegalArgumentException("crossEntropy: " + targets.length + "x" + t + " targets for logits "
                    + Arrays.toString(logits.shape()));
        }
        INDArray logp = Nd4j.exec(new LogSoftMax(logits.value().reshape('c', n, v), 1))[0]; // log softmax, (N, V)
        double[] lp = doubles(logp);
        int[] flat = new int[(int) n];
        double sum = 0;
        int count = 0;
        for (int i = 0; i < n; i++) {
            int target = targets[i / t][i % t];
            if (target != -1 && (target < 0 || target >= v)) {
                throw new IllegalArgumentException("crossEntropy: target " + target + " is outside the " + v + " classes");
            }
            flat[i] = target;
            if (target == -1) continue;
            sum -= lp[(int) (i * v + target)];                            // loss = -log softmax(logits)[target]
            count++;
        }
        if (count == 0) throw new IllegalArgumentException("crossEntropy: every target is -1 (ignored)");
        int counted = count;
        INDArray loss = Nd4j.scalar(logits.dataType(), sum / count);      // mean over counted positions
        return Tensor.op("crossEntropy", loss, g -> {
            // loss = mean_i -log p_i[target_i]:  d loss / d logits_i = (p_i - onehot(target_i)) / count
            double scale = g.getDouble(0) / counted;
            double[] onehot = new double[(int) (n * v)];
            double[] rowScale = new double[(int) n];
            for (int i = 0; i < n; i++) {
                if (flat[i] == -1) continue;
                onehot[(int) (i * v + flat[i])] = 1;
                rowScale[i] = scale;
            }
            INDArray dx = Transforms.exp(logp, true)
                    .subi(Nd4j.create(onehot, new long[]{n, v}, logits.dataType()))
                    .muliColumnVector(Nd4j.create(rowScale, new long[]{n, 1}, logits.dataType()));
            logits.addFreshGrad(dx);
        }, logits);
    }

    /** A dropout mask of the given shape: 0 with probability p, else 1 / (1 - p). */
    public static INDArray dropoutMask(long[] shape, DataType type, double p, Rng rng) {
        double keep = 1 / (1 - p);
        long length = 1;
        for (long s : shape) length *= s;
        double[] mask = new double[(int) length];
        for (int i = 0; i < mask.length; i++) mask[i] = rng.nextDouble() < p ? 0 : keep;
        return Nd4j.create(mask, shape, type);
    }

    private static final Map<String, INDArray> MASKS = new ConcurrentHashMap<>();

    /** (T, T): 0 where a query may see the key (key <= query), -inf elsewhere. Cached, outside workspaces. */
    public static INDArray causalBias(long t, DataType type) {
        return MASKS.computeIfAbsent("bias" + t + type, k -> triangle(t, type, 0, Double.NEGATIVE_INFINITY));
    }

    /** (T, T): 1 where a query may see the key, 0 elsewhere. */
    public static INDArray causalKeep(long t, DataType type) {
        return MASKS.computeIfAbsent("keep" + t + type, k -> triangle(t, type, 1, 0));
    }

    private static INDArray triangle(long t, DataType type, double seen, double hidden) {
        double[] m = new double[(int) (t * t)];
        for (int q = 0; q < t; q++) for (int k = 0; k < t; k++) m[(int) (q * t + k)] = k <= q ? seen : hidden;
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            return Nd4j.create(m, new long[]{t, t}, type);
        }
    }

    /** The elements of {@code a} in c order, as doubles. */
    static double[] doubles(INDArray a) {
        return a.dup('c').data().asDouble();
    }
}
