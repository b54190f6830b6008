package quill.autograd;

import quill.kernels.Blas;
import quill.kernels.Elements;
import quill.kernels.GeluKernel;
import quill.kernels.LayerNormKernel;
import quill.kernels.Scratch;
import quill.random.Rng;
import quill.runtime.Parallel;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastAddOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The neural-network functions a GPT is made of, as in {@code torch.nn.functional}. Matrix products go to
 * BLAS; the rest are single loops over the arrays' elements ({@link Elements}), forward and backward side
 * by side with the math in the comments, as in llm.c. Layer norm's and GELU's loops, which come in a float and a
 * double version, are in their kernels ({@link LayerNormKernel}, {@link GeluKernel}), called under the formula.
 * Each is checked against finite differences, and the fused ones (layer norm, GELU, softmax, cross-entropy) also
 * against the same function composed from {@link Ops}.
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
        long[] shape = x.shape().clone();
        shape[shape.length - 1] = out;
        INDArray xc = Elements.contiguousCopy(x.value()), w = weight.value();
        INDArray y = Elements.empty(x.dataType(), shape);                              // (..., out)
        if (Elements.isFloatOrDouble(y) && Elements.contiguous(w) && w.dataType() == y.dataType()) {
            // the rows of x and y as (N, in) and (N, out) matrices, without making those views
            Blas.gemm((int) n, (int) out, (int) in, 1.0, xc, 0, (int) in, false, w, 0, (int) in, true, 0.0, y, 0,
                    (int) out);                                                        // y = x W^T
        } else {
            Blas.gemm(xc.reshape('c', n, in), w, y.reshape('c', n, out), false, true, 1.0, 0.0);
        }
        if (bias != null) y.reshape('c', n, out).addiRowVector(bias.value());          //   + b
        Tensor[] parents = bias == null ? new Tensor[]{x, weight} : new Tensor[]{x, weight, bias};
        return Tensor.op("linear", y, g -> {
            INDArray g2 = Elements.contiguousCopy(g).reshape('c', n, out);           // (N, out)
            INDArray x2 = xc.reshape('c', n, in);                                      // (N, in)
            x.addGemmGrad(g2, weight.value(), false, false, n);                        // dx  = g W
            weight.addGemmGrad(g2, x2, true, false, out);                              // dW += g^T x
            if (bias != null) {                                                        // db += 1^T g, the column sums
                bias.addGemmGrad(Nd4j.ones(x.dataType(), 1, n), g2, false, false, 1);
            }
        }, parents);
    }

    /** Rows of {@code weight} picked by token ids: ids (B, T) to (B, T, C). Repeated ids add their gradients. */
    public static Tensor embedding(Tensor weight, int[][] ids) {
        int vocab = (int) weight.size(0), c = (int) weight.size(1);
        int b = ids.length, t = ids[0].length;
        int[] flat = new int[b * t];
        for (int i = 0; i < b; i++) {
            if (ids[i].length != t) throw new IllegalArgumentException("embedding: rows of ids differ in length");
            for (int j = 0; j < t; j++) {
                int id = ids[i][j];
                if (id < 0 || id >= vocab) {
                    throw new IllegalArgumentException("embedding: id " + id + " is outside the table's " + vocab
                            + " rows");
                }
                flat[i * t + j] = id;
            }
        }
        INDArray out = Elements.empty(weight.dataType(), b, t, c);
        Elements w = new Elements(weight.value()), o = new Elements(out);
        double[] row = new double[c];
        for (int i = 0; i < flat.length; i++) {
            w.get(flat[i] * c, row, c);                                   // out[b, t] = W[ids[b, t]]
            o.put(i * c, row, c);
        }
        return Tensor.op("embedding", out, g -> {
            double[] dw = new double[vocab * c], gRow = new double[c];
            Elements dy = new Elements(Elements.contiguousCopy(g));
            for (int i = 0; i < flat.length; i++) {
                dy.get(i * c, gRow, c);
                int at = flat[i] * c;
                for (int k = 0; k < c; k++) dw[at + k] += gRow[k];        // dW[ids[b, t]] += g[b, t]
            }
            Elements grad = new Elements(weight.gradBuffer());
            double[] sum = new double[vocab * c];
            grad.get(0, sum, sum.length);
            for (int k = 0; k < sum.length; k++) sum[k] += dw[k];
            grad.put(0, sum, sum.length);
        }, weight);
    }

    /**
     * Layer normalisation over the last axis, as torch's LayerNorm: {@code (x - mean) / sqrt(var + eps) * w + b}
     * with the biased variance; {@code bias} may be null.
     */
    public static Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, double eps) {
        int c = (int) x.size(x.rank() - 1), n = (int) (x.value().length() / c);
        INDArray out = Elements.empty(x.dataType(), x.shape());
        Elements in = new Elements(Elements.contiguousCopy(x.value())), y = new Elements(out);
        Elements we = new Elements(weight.value()), be = bias == null ? null : new Elements(bias.value());
        double[] mean = new double[n], rstd = new double[n];
        Parallel.range(n, ROWS_PER_CHUNK, (chunk, from, to) ->  // y = (x - mean) / sqrt(var + eps) * w + b
                LayerNormKernel.forward(in, we, be, y, mean, rstd, c, eps, from, to));
        Tensor[] parents = bias == null ? new Tensor[]{x, weight} : new Tensor[]{x, weight, bias};
        return Tensor.op("layerNorm", out, g -> {
            Elements dy = new Elements(Elements.contiguousCopy(g));
            INDArray dxArray = x.requiresGrad() ? Elements.empty(x.dataType(), x.shape()) : null;
            Elements dx = dxArray == null ? null : new Elements(dxArray);
            int chunks = Parallel.chunks(n, ROWS_PER_CHUNK);
            double[][] dw = new double[chunks][c], db = new double[chunks][c];  // per chunk, summed in order below
            // dw = sum_rows g xhat, db = sum_rows g, dx = rstd (g w - mean(g w) - xhat mean(g w xhat))
            Parallel.range(n, ROWS_PER_CHUNK, (chunk, from, to) ->
                    LayerNormKernel.backward(in, we, dy, dx, mean, rstd, dw[chunk], db[chunk], c, from, to));
            for (int k = 1; k < chunks; k++) {
                for (int j = 0; j < c; j++) {
                    dw[0][j] += dw[k][j];
                    db[0][j] += db[k][j];
                }
            }
            if (dxArray != null) x.addFreshGrad(dxArray);
            weight.addFreshGrad(Nd4j.create(dw[0], new long[]{c}, weight.dataType()));
            if (bias != null) bias.addFreshGrad(Nd4j.create(db[0], new long[]{c}, bias.dataType()));
        }, parents);
    }

    /** Rows per parallel chunk of the row-wise kernels: below this, one thread is faster. */
    private static final int ROWS_PER_CHUNK = 64;

    /**
     * GELU as PyTorch's default, {@code x * Phi(x)} with Phi the normal CDF {@code (1 + erf(x / sqrt 2)) / 2}.
     * In float32 erf is Abramowitz and Stegun's 7.1.28 ({@link GeluKernel}): GELU is within 5e-7 of PyTorch's,
     * its derivative within 1.4e-6, and the backward differentiates that same formula; in float64 erf is exact.
     */
    public static Tensor gelu(Tensor x) {
        int n = (int) x.value().length();
        INDArray out = Elements.empty(x.dataType(), x.shape());
        Elements in = new Elements(Elements.contiguousCopy(x.value())), y = new Elements(out);
        Parallel.range(n, 4 * Elements.BLOCK, (chunk, start, end) ->
                GeluKernel.forward(in, y, start, end));                  // out = x * Phi(x)
        return Tensor.op("gelu", out, g -> {
            INDArray dxArray = Elements.empty(x.dataType(), x.shape());
            Elements dy = new Elements(Elements.contiguousCopy(g)), dx = new Elements(dxArray);
            Parallel.range(n, 4 * Elements.BLOCK, (chunk, start, end) ->
                    GeluKernel.backward(in, dy, dx, start, end));        // dx = g (Phi(x) + x Phi'(x))
            x.addFreshGrad(dxArray);
        }, x);
    }

    /** Softmax over the last axis. */
    public static Tensor softmax(Tensor x) {
        int len = (int) x.size(x.rank() - 1), n = (int) (x.value().length() / len);
        INDArray x2 = x.value().reshape('c', n, len);
        INDArray y = Nd4j.exec(new SoftMax(x2, Elements.empty(x.dataType(), n, len), 1))[0]; // y = exp(x) / sum exp(x)
        return Tensor.op("softmax", y.reshape('c', x.shape()), g -> {
            INDArray dxArray = Elements.empty(x.dataType(), x.shape());
            softmaxBackward(new Elements(Elements.contiguousCopy(g)), new Elements(y), new Elements(dxArray), n, len,
                    1.0, false);
            x.addFreshGrad(dxArray);
        }, x);
    }

    /**
     * Causal attention weights from raw scores, fused: {@code scores} holds, for each (batch, head), the scores of
     * the last {@code queries} of {@code len} positions against all {@code len} keys, a row each; the query at
     * position i gets {@code att = softmax(scores * scale)} over keys 0..i and 0 after, as nanoGPT's scale,
     * masked_fill(-inf) and softmax. Training passes {@code queries = len} (every position); generation's last
     * block asks for the last position only. Only the keys a query sees are visited. {@code att} may be
     * {@code scores}.
     */
    public static void causalSoftmax(INDArray scores, INDArray att, int rows, int queries, int len, double scale) {
        Elements s = new Elements(scores), a = new Elements(att);
        Parallel.range(rows, 4 * ROWS_PER_CHUNK, (chunk, from, to) -> causalSoftmax(s, a, from, to, queries, len, scale));
    }

    /** Each thread's row for {@link #causalSoftmax}, kept between calls: generation calls it once a head and block. */
    private static final Scratch ROW = new Scratch(1);

    /** {@link #causalSoftmax(INDArray, INDArray, int, int, int, double)} on its rows [from, to) only. */
    public static void causalSoftmax(Elements s, Elements a, int from, int to, int queries, int len, double scale) {
        double[] row = ROW.doubles(len)[0];
        for (int r = from; r < to; r++) {
            int seen = len - queries + r % queries + 1;
            s.get(r * len, row, seen);
            softmaxRow(row, seen, scale);
            java.util.Arrays.fill(row, seen, len, 0);                     // masked keys: weight 0
            a.put(r * len, row, len);
        }
    }

    /** {@code row[0..n) = softmax(row * scale)}, shifted by the largest scaled score so that exp cannot overflow. */
    public static void softmaxRow(double[] row, int n, double scale) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int j = 0; j < n; j++) max = Math.max(max, row[j] * scale);
        for (int j = 0; j < n; j++) {
            row[j] = Math.exp(row[j] * scale - max);                      // exp(score * scale - max)
            sum += row[j];
        }
        for (int j = 0; j < n; j++) row[j] /= sum;
    }

    /**
     * The softmax backward in place, row by row over rows of {@code len}: {@code g = y * (g - sum(g * y)) * scale}.
     * With {@code causal}, row r is query r % len of a causal attention: its keys after the query have
     * y = 0, so they are set to 0 without being visited.
     */
    public static void softmaxBackwardInPlace(INDArray g, INDArray y, int rows, int len, double scale, boolean causal) {
        Elements e = new Elements(g);
        softmaxBackward(e, new Elements(y), e, rows, len, scale, causal);
    }

    private static void softmaxBackward(Elements g, Elements y, Elements dx, int rows, int len, double scale,
            boolean causal) {
        Parallel.range(rows, 4 * ROWS_PER_CHUNK, (chunk, from, to) -> {
            double[] gRow = new double[len], yRow = new double[len];
            for (int r = from; r < to; r++) {
                int row = r * len, seen = causal ? r % len + 1 : len;
                g.get(row, gRow, len);
                y.get(row, yRow, len);
                double dot = 0;
                for (int j = 0; j < seen; j++) dot += gRow[j] * yRow[j];
                for (int j = 0; j < seen; j++) gRow[j] = yRow[j] * (gRow[j] - dot) * scale;
                for (int j = seen; j < len; j++) gRow[j] = 0;
                dx.put(row, gRow, len);
            }
        });
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
     * Inverted dropout: zeroes each element with probability p and scales the rest by 1 / (1 - p), so the
     * expected value is unchanged. A null {@code rng} means evaluation: no dropout.
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
     * (softmax - onehot(target)) / count.
     */
    public static Tensor crossEntropy(Tensor logits, int[][] targets) {
        int v = (int) logits.size(logits.rank() - 1), n = (int) (logits.value().length() / v);
        int t = targets[0].length;
        if (targets.length * (long) t != n) {
            throw new IllegalArgumentException("crossEntropy: " + targets.length + "x" + t + " targets for logits "
                    + Arrays.toString(logits.shape()));
        }
        int[] flat = new int[n];
        int count = 0;
        for (int i = 0; i < n; i++) {
            int target = targets[i / t][i % t];
            if (target != -1 && (target < 0 || target >= v)) {
                throw new IllegalArgumentException("crossEntropy: target " + target + " is outside the " + v
                        + " classes");
            }
            flat[i] = target;
            if (target != -1) count++;
        }
        if (count == 0) throw new IllegalArgumentException("crossEntropy: every target is -1 (ignored)");
        Elements x = new Elements(Elements.contiguousCopy(logits.value()));
        INDArray probs = Elements.empty(logits.dataType(), n, v);
        Elements p = new Elements(probs);
        double[] rowLoss = new double[n];
        Parallel.range(n, ROWS_PER_CHUNK, (chunk, from, to) -> {
            double[] row = new double[v];
            for (int i = from; i < to; i++) {
                x.get(i * v, row, v);
                double max = Double.NEGATIVE_INFINITY, z = 0;
                for (int j = 0; j < v; j++) max = Math.max(max, row[j]);
                double picked = flat[i] == -1 ? 0 : row[flat[i]];
                for (int j = 0; j < v; j++) {
                    row[j] = Math.exp(row[j] - max);
                    z += row[j];
                }
                for (int j = 0; j < v; j++) row[j] /= z;                 // p = softmax(logits)
                p.put(i * v, row, v);
                if (flat[i] != -1) rowLoss[i] = max + Math.log(z) - picked; // -log p[target] = logsumexp - logit
            }
        });
        double sum = 0;
        for (double l : rowLoss) sum += l;
        int counted = count;
        INDArray loss = Nd4j.scalar(logits.dataType(), sum / count);      // mean over counted positions
        return Tensor.op("crossEntropy", loss, g -> {
            // loss = mean_i -log p_i[target_i]:  d loss / d logits_i = (p_i - onehot(target_i)) / count
            double scale = g.getDouble(0) / counted;
            INDArray dxArray = Elements.empty(logits.dataType(), logits.shape());
            Elements dx = new Elements(dxArray);
            Parallel.range(n, ROWS_PER_CHUNK, (chunk, from, to) -> {
                double[] d = new double[v];
                for (int i = from; i < to; i++) {
                    p.get(i * v, d, v);
                    double s = flat[i] == -1 ? 0 : scale;
                    if (flat[i] != -1) d[flat[i]] -= 1;
                    for (int j = 0; j < v; j++) d[j] *= s;
                    dx.put(i * v, d, v);
                }
            });
            logits.addFreshGrad(dxArray);
        }, logits);
    }

    /** A dropout mask of the given shape: 0 with probability p, else 1 / (1 - p). */
    public static INDArray dropoutMask(long[] shape, DataType type, double p, Rng rng) {
        double keep = 1 / (1 - p);
        INDArray mask = Elements.empty(type, shape);
        Elements m = new Elements(mask);
        double[] block = new double[Elements.BLOCK];
        for (int from = 0; from < m.length(); from += Elements.BLOCK) {
            int n = Math.min(Elements.BLOCK, m.length() - from);
            for (int i = 0; i < n; i++) block[i] = rng.nextDouble() < p ? 0 : keep;
            m.put(from, block, n);
        }
        return mask;
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
}
