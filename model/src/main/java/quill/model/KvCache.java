package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import quill.autograd.Elements;
import quill.autograd.Nn;
import quill.autograd.Parameter;
import quill.autograd.Tensor;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Fast generation: an inference-only forward pass of a {@link Gpt} that keeps every layer's keys and
 * values of the positions it has already seen, so that each new token costs one position's work
 * (its projections and MLP) plus attention over the cached keys and values, instead of recomputing
 * the whole context as {@link Gpt#nextTokenLogits} (and nanoGPT's {@code generate}) does.
 *
 * <p>Why it is exact: in a causal transformer the keys and values at position {@code i} depend only
 * on tokens {@code 0..i} and their positions, so appending a token does not change them. The same
 * math as the training forward (its LayerNorm and GELU kernels, on constants: no gradients), on arrays: {@code x = wte[id] + wpe[pos]}, then per
 * block {@code x += c_proj(attn(ln_1(x)))} and {@code x += mlp(ln_2(x))}, then {@code ln_f} and
 * {@code lm_head} (tied to {@code wte}) on the last position only.
 *
 * <p><b>When the context is full</b> ({@code blockSize} tokens) the window has to slide, and here the
 * learned absolute position embeddings matter: nanoGPT crops the context to its last
 * {@code blockSize} tokens and runs them at positions {@code 0..blockSize-1}, so after a crop every
 * token sits one position earlier than when its key and value were computed. The cached keys and
 * values carry the old {@code wpe} rows (mixed through every layer), so they are all stale: shifting
 * the cache would give the model position embeddings it never saw in training for that content, and
 * different text. So a slide drops the oldest tokens and recomputes the cache from the remaining
 * window at positions starting from 0 (a "prefill"). With {@code slide = 1} (the default) that
 * happens on every token past the block: each token then conditions on exactly the last
 * {@code blockSize} tokens, as in nanoGPT, and the text is identical to generation without the cache
 * (cached generation is then only faster for the first {@code blockSize} tokens). With a larger
 * {@code slide} the window drops that many tokens at once, so the next {@code slide - 1} tokens are
 * cheap appends again: much faster on long samples, but each token then sees between
 * {@code blockSize - slide + 1} and {@code blockSize} tokens of context, so the text differs from
 * nanoGPT's. (Relative position schemes such as RoPE or ALiBi avoid this re-prefill; learned absolute
 * embeddings, GPT-2's and ours, do not.)
 *
 * <p>Speed: at these sizes (a 64-token window of 128 channels) the time goes to the number of ND4J
 * calls (each costs microseconds of overhead), not to arithmetic. So each layer is four rank-2 gemms
 * (c_attn, attention's c_proj, c_fc, the MLP's c_proj; the two residual adds fused into them) into
 * arrays allocated once, the model's own LayerNorm and GELU kernels, and attention itself in plain
 * Java loops over a cache kept in Java arrays (in double): a few hundred thousand multiply-adds per
 * token, less than the overhead of the ND4J calls it replaces. The lm_head runs on the last position only.
 *
 * <p>Memory: per layer a key and a value cache of blockSize positions, allocated once; per window
 * length the activations, allocated once; the LayerNorm and GELU outputs live in a small reused ND4J
 * workspace. The weights are the model's own arrays (not copied), so this sees later changes to them.
 */
public final class KvCache {
    private static final String STEP_WORKSPACE = "quill-kv-step";

    private final int blockSize, nHead, nEmbd, headSize, vocabSize, slide;
    private final DataType type;
    private final INDArray wte, lnFWeight, lnFBias;
    private final Elements wteElements, wpeElements;
    private final Layer[] layers;
    /** The activations of a forward over t positions, by t (1 for an append; the window length for a prefill). */
    private final Map<Integer, Activations> activations = new HashMap<>();
    private final INDArray logits;                                   // (1, V)

    /** The tokens whose keys and values are cached, at positions 0..length-1. */
    private final int[] tokens;
    private int length;
    /** Where {@link #tokens} starts in the history last passed to {@link #nextTokenLogits}, and that history's length. */
    private int windowStart, historyLength;

    /**
     * One block's weights (biases null when the model has none) and its cache: keys transposed,
     * {@code keys[(h * hs + d) * blockSize + pos]}, so that a query's scores are a sum of rows; values
     * {@code values[(h * blockSize + pos) * hs + d]}, so that its output is a sum of rows.
     */
    private record Layer(INDArray ln1W, INDArray ln1B, INDArray cAttnW, INDArray cAttnB, INDArray cProjW, INDArray cProjB,
                         INDArray ln2W, INDArray ln2B, INDArray fcW, INDArray fcB, INDArray mlpProjW, INDArray mlpProjB,
                         double[] keys, double[] values) {
    }

    /** A forward's arrays for t positions, c order, outside workspaces, with their elements' in-place views. */
    private static final class Activations {
        final INDArray x, qkv, y, hidden, lastRow;                   // (T, C), (T, 3C), (T, C), (T, 4C), (1, C) view of x
        final Elements xElements, qkvElements, yElements;
        final double[] qkvRows, yRows, xRow;

        Activations(DataType type, int t, int c) {
            x = Nd4j.createUninitialized(type, new long[]{t, c}, 'c');
            qkv = Nd4j.createUninitialized(type, new long[]{t, 3L * c}, 'c');
            y = Nd4j.createUninitialized(type, new long[]{t, c}, 'c');
            hidden = Nd4j.createUninitialized(type, new long[]{t, 4L * c}, 'c');
            lastRow = x.getRow(t - 1, true);
            xElements = new Elements(x);
            qkvElements = new Elements(qkv);
            yElements = new Elements(y);
            qkvRows = new double[t * 3 * c];
            yRows = new double[t * c];
            xRow = new double[c];
        }
    }

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
            throw new IllegalArgumentException("slide must be between 1 and blockSize (" + c.blockSize() + "), got " + slide);
        }
        this.blockSize = c.blockSize();
        this.nHead = c.nHead();
        this.nEmbd = c.nEmbd();
        this.headSize = c.nEmbd() / c.nHead();
        this.vocabSize = c.vocabSize();
        this.slide = slide;
        Map<String, Parameter> p = model.parameters();
        this.wte = value(p, "transformer.wte.weight");
        this.type = wte.dataType();
        this.wteElements = new Elements(wte);
        this.wpeElements = new Elements(value(p, "transformer.wpe.weight"));
        this.lnFWeight = value(p, "transformer.ln_f.weight");
        this.lnFBias = optional(p, "transformer.ln_f.bias");
        this.layers = new Layer[c.nLayer()];
        for (int i = 0; i < layers.length; i++) {
            String h = "transformer.h." + i + ".";
            layers[i] = new Layer(
                    value(p, h + "ln_1.weight"), optional(p, h + "ln_1.bias"),
                    value(p, h + "attn.c_attn.weight"), optional(p, h + "attn.c_attn.bias"),
                    value(p, h + "attn.c_proj.weight"), optional(p, h + "attn.c_proj.bias"),
                    value(p, h + "ln_2.weight"), optional(p, h + "ln_2.bias"),
                    value(p, h + "mlp.c_fc.weight"), optional(p, h + "mlp.c_fc.bias"),
                    value(p, h + "mlp.c_proj.weight"), optional(p, h + "mlp.c_proj.bias"),
                    new double[nEmbd * blockSize],                                   // (nh, hs, blockSize) keys, transposed
                    new double[nEmbd * blockSize]);                                  // (nh, blockSize, hs) values
        }
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            this.logits = Nd4j.createUninitialized(type, new long[]{1, vocabSize}, 'c');
        }
        this.tokens = new int[blockSize];
    }

    /**
     * The logits (one per vocabulary entry) for the token after {@code history[0..n)}, the whole
     * sequence so far (not cropped). When the history is what this cache saw last time plus one
     * token, only that token is computed; otherwise (a new prompt, or the context is full) the cache
     * is recomputed from the window of the history it must condition on.
     */
    public float[] nextTokenLogits(int[] history, int n) {
        if (n < 1 || n > history.length) throw new IllegalArgumentException("history length " + n + " is not in [1, " + history.length + "]");
        boolean extendsCache = length > 0 && n == historyLength + 1
                && Arrays.equals(tokens, 0, length, history, windowStart, windowStart + length);
        try (MemoryWorkspace ignored = StepMemory.open(STEP_WORKSPACE)) {
            float[] logits;
            if (extendsCache && length < blockSize) {
                logits = forward(history, n - 1, 1);               // one new position: append
            } else {
                // a new prompt is cropped as nanoGPT crops it; a full cache drops its `slide` oldest tokens
                int keep = extendsCache ? blockSize - slide + 1 : Math.min(n, blockSize);
                length = 0;
                logits = forward(history, n - keep, keep);          // recompute at positions 0..keep-1
            }
            historyLength = n;
            windowStart = n - length;
            return logits;
        }
    }

    /** The number of positions cached (at most blockSize). */
    public int length() {
        return length;
    }

    /** Runs {@code history[from..from+t)} at positions {@code length..length+t-1}; t > 1 only from an empty cache. */
    private float[] forward(int[] history, int from, int t) {
        int pos = length;
        for (int i = 0; i < t; i++) {
            int id = history[from + i];
            if (id < 0 || id >= vocabSize) throw new IllegalArgumentException("token id " + id + " is outside [0, " + vocabSize + ")");
        }
        Activations a = activations.get(t);
        if (a == null) {
            try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                a = new Activations(type, t, nEmbd);
            }
            activations.put(t, a);
        }
        double[] row = a.xRow, wpeRow = new double[nEmbd];
        for (int i = 0; i < t; i++) {                                                       // (T, C)  x = wte[id] + wpe[pos]
            wteElements.get(history[from + i] * nEmbd, row, nEmbd);
            wpeElements.get((pos + i) * nEmbd, wpeRow, nEmbd);
            for (int j = 0; j < nEmbd; j++) row[j] += wpeRow[j];
            a.xElements.put(i * nEmbd, row, nEmbd);
        }
        for (Layer l : layers) {
            // x = x + c_proj(attention(ln_1(x)))
            Nd4j.gemm(layerNorm(a.x, l.ln1W, l.ln1B), l.cAttnW, a.qkv, false, true, 1.0, 0.0); // (T, 3C)
            if (l.cAttnB != null) a.qkv.addiRowVector(l.cAttnB);
            attention(l, a, pos, t);                                                         // (T, C)  heads side by side
            Nd4j.gemm(a.y, l.cProjW, a.x, false, true, 1.0, 1.0);                           // (T, C)  x += y W^T
            if (l.cProjB != null) a.x.addiRowVector(l.cProjB);
            // x = x + mlp(ln_2(x)),  mlp = c_proj(gelu(c_fc(.)))
            Nd4j.gemm(layerNorm(a.x, l.ln2W, l.ln2B), l.fcW, a.hidden, false, true, 1.0, 0.0); // (T, 4C)
            if (l.fcB != null) a.hidden.addiRowVector(l.fcB);
            Nd4j.gemm(gelu(a.hidden), l.mlpProjW, a.x, false, true, 1.0, 1.0); // (T, C)
            if (l.mlpProjB != null) a.x.addiRowVector(l.mlpProjB);
        }
        System.arraycopy(history, from, tokens, pos, t);
        length = pos + t;
        INDArray last = layerNorm(a.lastRow, lnFWeight, lnFBias);                           // (1, C)  ln_f, last position only
        Nd4j.gemm(last, wte, logits, false, true, 1.0, 0.0);                                // (1, V)  lm_head, tied to wte
        return logits.toFloatVector();
    }

    /**
     * Causal self-attention of the t new positions (at pos..pos+t-1) over the cache, from their q, k
     * and v in {@code a.qkv} to {@code a.y}: stores the new keys and values, then for each query and
     * head {@code softmax(q k^T / sqrt(hs)) v} over the keys 0..its own position.
     */
    private void attention(Layer l, Activations a, int pos, int t) {
        int c = nEmbd, hs = headSize;
        double[] qkv = a.qkvRows, y = a.yRows, keys = l.keys, values = l.values;
        a.qkvElements.get(0, qkv, t * 3 * c);
        for (int i = 0; i < t; i++) {
            int p = pos + i, k = i * 3 * c + c, v = k + c;                                  // row i is [q | k | v]
            for (int h = 0; h < nHead; h++) {
                for (int d = 0; d < hs; d++) keys[(h * hs + d) * blockSize + p] = qkv[k + h * hs + d];
                System.arraycopy(qkv, v + h * hs, values, (h * blockSize + p) * hs, hs);
            }
        }
        double scale = 1 / Math.sqrt(hs);
        double[] att = new double[pos + t];
        Arrays.fill(y, 0, t * c, 0);
        for (int i = 0; i < t; i++) {
            int seen = pos + i + 1;                                                          // keys 0..pos+i
            for (int h = 0; h < nHead; h++) {
                int q = i * 3 * c + h * hs;
                Arrays.fill(att, 0, seen, 0);
                int d = 0;
                for (; d + 4 <= hs; d += 4) {                                                // att = q k^T, four dims a pass
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
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int j = 0; j < seen; j++) max = Math.max(max, att[j] * scale);
                for (int j = 0; j < seen; j++) {
                    att[j] = Math.exp(att[j] * scale - max);                                 // softmax(att / sqrt(hs))
                    sum += att[j];
                }
                int out = i * c + h * hs, j = 0;
                for (; j + 4 <= seen; j += 4) {                                              // y = att v, four keys a pass
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
        a.yElements.put(0, y, t * c);
    }

    /** The model's own LayerNorm (eps 1e-5), on arrays: the same kernel as training, so the same numbers. */
    private static INDArray layerNorm(INDArray x, INDArray w, INDArray b) {
        return Nn.layerNorm(Tensor.constant(x), Tensor.constant(w), b == null ? null : Tensor.constant(b), Nn.LAYER_NORM_EPS).value();
    }

    /** The model's own GELU, on arrays. */
    private static INDArray gelu(INDArray x) {
        return Nn.gelu(Tensor.constant(x)).value();
    }

    private static INDArray value(Map<String, Parameter> p, String name) {
        Parameter param = p.get(name);
        if (param == null) throw new IllegalStateException("the model has no parameter " + name);
        return param.value();
    }

    private static INDArray optional(Map<String, Parameter> p, String name) {
        Parameter param = p.get(name);
        return param == null ? null : param.value();
    }
}
