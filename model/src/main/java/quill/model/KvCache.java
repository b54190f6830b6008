package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import quill.kernels.Elements;
import quill.autograd.Tensor;

import java.util.Arrays;

/**
 * Fast generation: every block's keys and values of the positions already seen, so that each new token
 * costs one position's work (its projections and MLP) plus attention over the cached keys and values,
 * instead of recomputing the whole context as {@link Gpt#nextTokenLogits} (and nanoGPT's {@code generate})
 * does. The forward pass is the model's own ({@link Gpt}, {@link Block}, {@link CausalSelfAttention}): a
 * block given its {@link Layer} appends the new keys and values and attends over the cache, so whatever a
 * layer computes (any norm, MLP, position scheme, a {@link Norm} of your own) is what generation uses.
 *
 * <p>Why it is exact: in a causal transformer the keys and values at position {@code i} depend only on
 * tokens {@code 0..i} and their positions, so appending a token does not change them.
 *
 * <p><b>When the context is full</b> ({@code blockSize} tokens) the window has to slide. nanoGPT crops the
 * context to its last {@code blockSize} tokens and runs them at positions {@code 0..blockSize-1}: every token
 * moves one position earlier, and, more importantly, loses the dropped token from its context. Both make the
 * cached keys and values stale: with learned positions they carry the old {@code wpe} rows, and with any
 * position scheme a block's keys past the first block were computed from hidden states that attended to the
 * dropped token. (Rotary embeddings remove the first reason, since scores then depend only on the distance
 * between query and key, but not the second: only a one-block model could keep its cache across a slide.)
 * So a slide drops the oldest tokens and recomputes the cache from the remaining window at positions
 * starting from 0 (a "prefill"). With {@code slide = 1} (the default) that happens on every token past the
 * block: each token then conditions on exactly the last {@code blockSize} tokens, as in nanoGPT, and the
 * text is identical to generation without the cache. With a larger {@code slide} the window drops that many
 * tokens at once, so the next {@code slide - 1} tokens are cheap appends again: much faster on long samples,
 * but each token then sees between {@code blockSize - slide + 1} and {@code blockSize} tokens of context,
 * so the text differs from nanoGPT's.
 *
 * <p>Speed: a prompt, or a window after a slide, goes through the blocks all at once, with the same batched
 * attention as training (BLAS products); the cache only keeps its keys and values. (The cache's own loops below
 * are as fast once compiled, but a sample's whole process ran slower with them: the batched products are native
 * code from the first token, the loops run interpreted until the JIT compiles them.) An appended token's
 * attention over the cache is plain Java loops over keys and values kept in Java arrays (in double): at these
 * sizes (a 64-token window of 128 channels) a few hundred thousand multiply-adds, less than the overhead of
 * the ND4J calls it would take. Only the last position goes on past the last block's attention
 * ({@link Block#forwardLast}): the logits need no other, so its MLP and lm_head run on one row.
 */
public final class KvCache {
    private final Gpt model;
    private final int blockSize, nHead, headSize, slide;
    private final Layer[] layers;

    /** The tokens whose keys and values are cached, at positions 0..length-1. */
    private final int[] tokens;
    private int length;
    /**
     * Where {@link #tokens} starts in the history last passed to {@link #nextTokenLogits}, and that history's length.
     */
    private int windowStart, historyLength;

    /** A cache with nanoGPT's exact cropping (slide 1). */
    public KvCache(Gpt model) {
        this(model, 1);
    }

    /**
     * @param slide how many of the oldest tokens to drop at once when the context is full, 1 to
     *              blockSize: 1 matches nanoGPT exactly (see the class comment for the trade-off)
     */
    public KvCache(Gpt model, int slide) {
        GptConfig c = model.config();
        if (slide < 1 || slide > c.blockSize()) {
            throw new IllegalArgumentException("slide must be between 1 and blockSize (" + c.blockSize() + "), got "
                    + slide);
        }
        this.model = model;
        this.blockSize = c.blockSize();
        this.nHead = c.nHead();
        this.headSize = c.headSize();
        this.slide = slide;
        this.layers = new Layer[c.nLayer()];
        for (int i = 0; i < layers.length; i++) layers[i] = new Layer();
        this.tokens = new int[blockSize];
    }

    /**
     * The logits (one per vocabulary entry) for the token after {@code history[0..n)}, the whole
     * sequence so far (not cropped). When the history is what this cache saw last time plus one
     * token, only that token is computed; otherwise (a new prompt, or the context is full) the cache
     * is recomputed from the window of the history it must condition on.
     */
    public float[] nextTokenLogits(int[] history, int n) {
        if (n < 1 || n > history.length) throw new IllegalArgumentException("history length " + n + " is not in [1, "
                + history.length + "]");
        boolean extendsCache = length > 0 && n == historyLength + 1
                && Arrays.equals(tokens, 0, length, history, windowStart, windowStart + length);
        int from, t;
        if (extendsCache && length < blockSize) {
            from = n - 1;                                            // one new position: append
            t = 1;
        } else {
            // a new prompt is cropped as nanoGPT crops it; a full cache drops its `slide` oldest tokens
            t = extendsCache ? blockSize - slide + 1 : Math.min(n, blockSize);
            from = n - t;
            length = 0;                                              // recompute at positions 0..t-1
        }
        int[] ids = Arrays.copyOfRange(history, from, from + t);
        float[] logits = model.nextTokenLogits(ids, this);           // runs ids at positions length..length+t-1
        System.arraycopy(ids, 0, tokens, length, t);
        length += t;
        historyLength = n;
        windowStart = n - length;
        return logits;
    }

    /** The number of positions cached (at most blockSize). */
    public int length() {
        return length;
    }

    Layer layer(int i) {
        return layers[i];
    }

    /**
     * One block's cache: keys transposed, {@code keys[(h * hs + d) * blockSize + pos]}, so that a query's
     * scores are a sum of rows; values {@code values[(h * blockSize + pos) * hs + d]}, so that its output is a
     * sum of rows.
     */
    final class Layer {
        private final double[] keys = new double[nHead * headSize * blockSize];
        private final double[] values = new double[nHead * headSize * blockSize];
        private double[] qkvRows = new double[0], yRows = new double[0];

        /** Where this step's positions start: the number already cached. */
        int length() {
            return length;
        }

        /** Keeps the keys and values of {@code qkv} (1, t, 3C), positions 0..t-1 of an empty cache. */
        void store(Tensor qkvT) {
            readAndStore(qkvT);
        }

        /** Reads {@code qkv} (1, t, 3C) into {@link #qkvRows} and stores its keys and values at length..length+t-1. */
        private int readAndStore(Tensor qkvT) {
            if (qkvT.size(0) != 1) throw new IllegalArgumentException("a KV cache generates one sequence at a time");
            int t = (int) qkvT.size(1), c = nHead * headSize, hs = headSize, pos = length;
            if (qkvRows.length < t * 3 * c) {
                qkvRows = new double[t * 3 * c];
                yRows = new double[t * c];
            }
            double[] qkv = qkvRows;
            new Elements(Elements.contiguousCopy(qkvT.value())).get(0, qkv, t * 3 * c);
            for (int i = 0; i < t; i++) {
                int p = pos + i, k = i * 3 * c + c, v = k + c;                           // row i is [q | k | v]
                for (int h = 0; h < nHead; h++) {
                    for (int d = 0; d < hs; d++) keys[(h * hs + d) * blockSize + p] = qkv[k + h * hs + d];
                    System.arraycopy(qkv, v + h * hs, values, (h * blockSize + p) * hs, hs);
                }
            }
            return t;
        }

        /**
         * Causal self-attention of the t new positions (at length..length+t-1) from their q, k and v
         * ({@code qkv}, (1, t, 3C), after QK-norm and rotation): stores the new keys and values, then for
         * each query and head {@code softmax(q k^T / sqrt(hs)) v} over the keys 0..its own position.
         * Returns y (1, t, C), every head's output side by side. Generation only: no gradient.
         */
        Tensor attend(Tensor qkvT) {
            return attend(qkvT, 0);
        }

        /**
         * As {@link #attend}, but only the last new position's query: y (1, 1, C). Every new key and value is
         * still stored. The model's last block needs no more, since the next token's logits come from the
         * last position alone ({@link Block#forwardLast}).
         */
        Tensor attendLast(Tensor qkvT) {
            return attend(qkvT, (int) qkvT.size(1) - 1);
        }

        /** Stores all t new keys and values; attends for the queries first..t-1: y (1, t - first, C). */
        private Tensor attend(Tensor qkvT, int first) {
            int t = readAndStore(qkvT), c = nHead * headSize, hs = headSize, pos = length, rows = t - first;
            double[] qkv = qkvRows, y = yRows;
            double scale = 1 / Math.sqrt(hs);
            double[] att = new double[pos + t];
            Arrays.fill(y, 0, rows * c, 0);
            for (int i = first; i < t; i++) {
                int seen = pos + i + 1;                                                   // keys 0..pos+i
                for (int h = 0; h < nHead; h++) {
                    scores(qkv, i * 3 * c + h * hs, h, seen, att);                        // att = q k^T
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int j = 0; j < seen; j++) max = Math.max(max, att[j] * scale);
                    for (int j = 0; j < seen; j++) {
                        att[j] = Math.exp(att[j] * scale - max);                          // softmax(att / sqrt(hs))
                        sum += att[j];
                    }
                    weightedValues(att, sum, h, seen, y, (i - first) * c + h * hs);       // y = att v
                }
            }
            DataType type = qkvT.dataType();
            INDArray out = Elements.empty(type, 1, rows, c);
            new Elements(out).put(0, y, rows * c);
            return Tensor.op("cachedAttention", out, g -> {
                throw new UnsupportedOperationException("generation through a KV cache has no backward pass");
            }, qkvT);
        }

        /** {@code att[j] = q . keys[j]} for keys 0..seen-1 of head h, four channels a pass. */
        private void scores(double[] qkv, int q, int h, int seen, double[] att) {
            int hs = headSize, d = 0;
            Arrays.fill(att, 0, seen, 0);
            for (; d + 4 <= hs; d += 4) {
                double q0 = qkv[q + d], q1 = qkv[q + d + 1], q2 = qkv[q + d + 2], q3 = qkv[q + d + 3];
                int k0 = (h * hs + d) * blockSize, k1 = k0 + blockSize, k2 = k1 + blockSize, k3 = k2 + blockSize;
                for (int j = 0; j < seen; j++) {
                    att[j] += q0 * keys[k0 + j] + q1 * keys[k1 + j] + q2 * keys[k2 + j] + q3 * keys[k3 + j];
                }
            }
            for (; d < hs; d++) {
                double qd = qkv[q + d];
                int kRow = (h * hs + d) * blockSize;
                for (int j = 0; j < seen; j++) att[j] += qd * keys[kRow + j];
            }
        }

        /** {@code y[out..out+hs) += sum_j att[j] / sum * values[j]} over keys 0..seen-1 of head h, four keys a pass. */
        private void weightedValues(double[] att, double sum, int h, int seen, double[] y, int out) {
            int hs = headSize, j = 0;
            for (; j + 4 <= seen; j += 4) {
                double w0 = att[j] / sum, w1 = att[j + 1] / sum, w2 = att[j + 2] / sum, w3 = att[j + 3] / sum;
                int v0 = (h * blockSize + j) * hs, v1 = v0 + hs, v2 = v1 + hs, v3 = v2 + hs;
                for (int e = 0; e < hs; e++) {
                    y[out + e] += w0 * values[v0 + e] + w1 * values[v1 + e] + w2 * values[v2 + e] + w3 * values[v3 + e];
                }
            }
            for (; j < seen; j++) {
                double w = att[j] / sum;
                int vRow = (h * blockSize + j) * hs;
                for (int e = 0; e < hs; e++) y[out + e] += w * values[vRow + e];
            }
        }
    }
}
