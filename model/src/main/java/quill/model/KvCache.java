package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastAddOp;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import quill.autograd.Nn;
import quill.autograd.Parameter;
import quill.autograd.Tensor;

import java.util.Arrays;
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
 * <p>Memory: per layer a key and a value array (nHead, blockSize, headSize), allocated once outside
 * workspaces; every per-token intermediate lives in a small ND4J workspace that is reused.
 * The weights are the model's own arrays (not copied), so this sees later changes to them.
 */
public final class KvCache {
    private static final WorkspaceConfiguration STEP_MEMORY = WorkspaceConfiguration.builder()
            .initialSize(0)
            .overallocationLimit(0.1)
            .policyAllocation(AllocationPolicy.OVERALLOCATE)
            .policyLearning(LearningPolicy.FIRST_LOOP)
            .policySpill(SpillPolicy.REALLOCATE)
            .build();
    private static final String STEP_WORKSPACE = "quill-kv-step";

    private final int blockSize, nHead, nEmbd, headSize, slide;
    private final DataType type;
    private final INDArray wte, wpe, lnFWeight, lnFBias;
    private final Layer[] layers;

    /** The tokens whose keys and values are cached, at positions 0..length-1. */
    private final int[] tokens;
    private int length;
    /** Where {@link #tokens} starts in the history last passed to {@link #nextTokenLogits}, and that history's length. */
    private int windowStart, historyLength;

    /** One block's weights (biases null when the model has none) and its cache. */
    private record Layer(INDArray ln1W, INDArray ln1B, INDArray cAttnW, INDArray cAttnB, INDArray cProjW, INDArray cProjB,
                         INDArray ln2W, INDArray ln2B, INDArray fcW, INDArray fcB, INDArray mlpProjW, INDArray mlpProjB,
                         INDArray keys, INDArray values) {
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
        this.slide = slide;
        Map<String, Parameter> p = model.parameters();
        this.wte = value(p, "transformer.wte.weight");
        this.wpe = value(p, "transformer.wpe.weight");
        this.type = wte.dataType();
        this.lnFWeight = value(p, "transformer.ln_f.weight");
        this.lnFBias = optional(p, "transformer.ln_f.bias");
        this.layers = new Layer[c.nLayer()];
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            for (int i = 0; i < layers.length; i++) {
                String h = "transformer.h." + i + ".";
                layers[i] = new Layer(
                        value(p, h + "ln_1.weight"), optional(p, h + "ln_1.bias"),
                        value(p, h + "attn.c_attn.weight"), optional(p, h + "attn.c_attn.bias"),
                        value(p, h + "attn.c_proj.weight"), optional(p, h + "attn.c_proj.bias"),
                        value(p, h + "ln_2.weight"), optional(p, h + "ln_2.bias"),
                        value(p, h + "mlp.c_fc.weight"), optional(p, h + "mlp.c_fc.bias"),
                        value(p, h + "mlp.c_proj.weight"), optional(p, h + "mlp.c_proj.bias"),
                        Nd4j.zeros(type, nHead, blockSize, headSize),                  // (nh, blockSize, hs) keys
                        Nd4j.zeros(type, nHead, blockSize, headSize));                 // (nh, blockSize, hs) values
            }
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
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().getAndActivateWorkspace(STEP_MEMORY, STEP_WORKSPACE)) {
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
        int[] ids = Arrays.copyOfRange(history, from, from + t);
        for (int id : ids) {
            if (id < 0 || id >= wte.size(0)) throw new IllegalArgumentException("token id " + id + " is outside [0, " + wte.size(0) + ")");
        }
        INDArray x = Nd4j.pullRows(wte, 1, ids, 'c');                                       // (T, C) token embeddings
        x.addi(wpe.get(NDArrayIndex.interval(pos, pos + t), NDArrayIndex.all()));          // (T, C)  + position embeddings
        int end = pos + t;                                                                  // keys visible to the last query
        for (Layer l : layers) {
            // x = x + c_proj(attention(ln_1(x)))
            INDArray qkv = linear(layerNorm(x, l.ln1W, l.ln1B), l.cAttnW, l.cAttnB);        // (T, 3C)
            INDArray heads = qkv.reshape('c', t, 3, nHead, headSize).permute(1, 2, 0, 3);   // (3, nh, T, hs) view
            INDArray q = heads.get(NDArrayIndex.point(0), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all()).dup('c'); // (nh, T, hs)
            l.keys.get(NDArrayIndex.all(), NDArrayIndex.interval(pos, end), NDArrayIndex.all())
                    .assign(heads.get(NDArrayIndex.point(1), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all()));
            l.values.get(NDArrayIndex.all(), NDArrayIndex.interval(pos, end), NDArrayIndex.all())
                    .assign(heads.get(NDArrayIndex.point(2), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all()));
            INDArray k = l.keys.get(NDArrayIndex.all(), NDArrayIndex.interval(0, end), NDArrayIndex.all());   // (nh, end, hs)
            INDArray v = l.values.get(NDArrayIndex.all(), NDArrayIndex.interval(0, end), NDArrayIndex.all()); // (nh, end, hs)
            INDArray scores = Nd4j.matmul(q, k, false, true, false).muli(1 / Math.sqrt(headSize)); // (nh, T, end)  q k^T / sqrt(hs)
            if (t > 1) {
                // a prefill (pos = 0, end = T): query i may only see keys 0..i; a single new token sees them all
                Nd4j.exec(new BroadcastAddOp(scores, Nn.causalBias(t, type), scores, 1, 2));
            }
            INDArray att = scores.reshape('c', nHead * t, end);
            Nd4j.exec(new SoftMax(att, att, 1));                                           // softmax over the keys
            INDArray y = Nd4j.matmul(att.reshape('c', nHead, t, end), v);                    // (nh, T, hs)  weighted sum of values
            y = y.permute(1, 0, 2).dup('c').reshape('c', t, nEmbd);                         // (T, C)  heads side by side
            x.addi(linear(y, l.cProjW, l.cProjB));                                          // (T, C)
            // x = x + mlp(ln_2(x)),  mlp = c_proj(gelu(c_fc(.)))
            INDArray hidden = gelu(linear(layerNorm(x, l.ln2W, l.ln2B), l.fcW, l.fcB));     // (T, 4C)
            x.addi(linear(hidden, l.mlpProjW, l.mlpProjB));                                 // (T, C)
        }
        System.arraycopy(ids, 0, tokens, pos, t);
        length = end;
        INDArray last = layerNorm(x.getRow(t - 1, true), lnFWeight, lnFBias);               // (1, C)  ln_f, last position only
        INDArray logits = Nd4j.createUninitialized(type, new long[]{1, wte.size(0)}, 'c');  // (1, V)
        Nd4j.gemm(last, wte, logits, false, true, 1.0, 0.0);                                // lm_head, tied to wte
        return logits.toFloatVector();
    }

    /** {@code x W^T + b}, W in nn.Linear's [out, in] layout: (N, in) to (N, out), one gemm into a fresh output. */
    private INDArray linear(INDArray x, INDArray w, INDArray b) {
        INDArray y = Nd4j.createUninitialized(type, new long[]{x.size(0), w.size(0)}, 'c');
        Nd4j.gemm(x, w, y, false, true, 1.0, 0.0);
        return b == null ? y : y.addiRowVector(b);
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
