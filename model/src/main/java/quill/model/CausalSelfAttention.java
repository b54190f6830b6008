package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import quill.autograd.Nn;
import quill.autograd.Parameter;
import quill.autograd.Rng;
import quill.autograd.Rope;
import quill.autograd.Tensor;
import quill.autograd.Variants;

import java.util.ArrayList;
import java.util.List;

import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.point;

/**
 * Multi-head causal self-attention, as nanoGPT's CausalSelfAttention: one fused projection {@code c_attn}
 * to queries, keys and values for every head, softmax(q k^T / sqrt(hs)) over the keys each query may see,
 * the weighted sum of the values, and the output projection {@code c_proj}.
 *
 * <p>With {@link Architecture#qkNorm()} or rotary positions ({@link Architecture.PosType#ROPE}), q and k are
 * normalised and/or rotated right after {@code c_attn}, on the fused array ({@link Variants#qkNormRope}), so
 * the attention itself is the same for every variant.
 *
 * <p>When generating, {@link #forward} takes the block's {@link KvCache.Layer}: the new positions' keys and
 * values are appended to it and their queries attend over everything cached (the same math, one position
 * at a time). Everything before and after attention is the same code in both cases.
 *
 * <p>The middle part ({@link #attend}) is one op with a hand-written backward: every intermediate is an
 * ordinary array you can look at in a debugger (q, k, v, scores, att, y), and it is tested against the
 * same math composed from the tape's small ops. q, k and v are views into c_attn's output, and the
 * gradients are written straight into views of c_attn's output gradient: no copies.
 */
final class CausalSelfAttention {
    final Linear cAttn;
    final Linear cProj;
    private final int nHead;
    private final double dropout;
    private final boolean qkNorm;
    /** Null unless the model's positions are rotary. */
    private final Rope rope;
    /** Backing store of the last forward's attention weights, outside workspaces; grows, never shrinks. */
    private INDArray weightsStore;
    private INDArray weights;

    CausalSelfAttention(String name, GptConfig config, DataType type) {
        int c = config.nEmbd();
        this.cAttn = new Linear(name + ".c_attn", c, 3 * c, config.bias(), type);
        this.cProj = new Linear(name + ".c_proj", c, c, config.bias(), type);
        this.nHead = config.nHead();
        this.dropout = config.dropout();
        Architecture arch = config.arch();
        this.qkNorm = arch.qkNorm();
        this.rope = arch.pos() == Architecture.PosType.ROPE
                ? new Rope(config.headSize(), arch.ropeBase(), config.blockSize()) : null;
    }

    /**
     * {@code rng} draws the dropout masks (null in eval mode: no dropout); {@code cache} is this block's
     * keys and values when generating, else null.
     */
    Tensor forward(Tensor x, Rng rng, KvCache.Layer cache) {
        Tensor qkv = qkv(x, cache == null ? 0 : cache.length()); // (B, T, 3C)
        Tensor y;                                           // (B, T, C): every head's output side by side
        if (cache == null) {
            y = attend(qkv, rng);
        } else if (cache.length() == 0) {                   // a prompt (or a slid window): the whole block at once,
            y = attend(qkv, null);                          // as training computes it, then its keys and values kept
            cache.store(qkv);
        } else {
            y = cache.attend(qkv);                          // (1, T, C): new positions over the cached ones too
        }
        return Nn.dropout(cProj.forward(y), dropout, rng);  // (B, T, C)
    }

    /**
     * Generation in the model's last block: every new position's key and value go into {@code cache}, but the
     * output is the last position's only, (1, T, C) in, (1, 1, C) out (see {@link Block#forwardLast}).
     */
    Tensor forwardLast(Tensor x, KvCache.Layer cache) {
        return cProj.forward(cache.attendLast(qkv(x, cache.length()))); // (1, 1, C)
    }

    /** c_attn, then QK-norm and rotation when on: (B, T, C) to (B, T, 3C), q, k, v side by side. */
    private Tensor qkv(Tensor x, int pos0) {
        Tensor qkv = cAttn.forward(x);                      // (B, T, 3C)
        if (qkNorm || rope != null) {                       // QK-norm, then rotate q and k to their positions
            qkv = Variants.qkNormRope(qkv, nHead, qkNorm, rope, pos0);
        }
        return qkv;
    }

    /** softmax(mask(q k^T / sqrt(hs))) v for every head, from the fused projection. */
    private Tensor attend(Tensor qkvT, Rng rng) {
        int b = (int) qkvT.size(0), t = (int) qkvT.size(1), c = (int) qkvT.size(2) / 3, hs = c / nHead;
        DataType type = qkvT.dataType();
        double scale = 1 / Math.sqrt(hs);
        INDArray q = head(qkvT.value(), 0, b, t, hs);                       // (B, nh, T, hs)
        INDArray k = head(qkvT.value(), 1, b, t, hs);                       // (B, nh, T, hs)
        INDArray v = head(qkvT.value(), 2, b, t, hs);                       // (B, nh, T, hs)
        INDArray scores = Nd4j.matmul(q, k, Nd4j.createUninitialized(type, new long[]{b, nHead, t, t}, 'c'),
                false, true, false);                                        // (B, nh, T, T)  q k^T
        INDArray att = weightsBuffer(b, t, type);                           // (B, nh, T, T)
        Nn.causalSoftmax(scores, att, b * nHead * t, t, scale);  // softmax(q k^T / sqrt(hs)) over keys <= query
        INDArray mask = rng == null || dropout == 0 ? null : Nn.dropoutMask(att.shape(), type, dropout, rng);
        INDArray attDropped = mask == null ? att : att.mul(mask);           // (B, nh, T, T)
        INDArray y = Nd4j.createUninitialized(type, new long[]{b, t, c}, 'c');  // (B, T, C)
        Nd4j.matmul(attDropped, v, heads(y, b, t, hs), false, false, false); // y = att v, each head into its columns

        return Tensor.op("attention", y, dy -> {
            INDArray dyHeads = heads(dy, b, t, hs);                          // (B, nh, T, hs) view
            INDArray dqkv = Nd4j.createUninitialized(type, new long[]{b, t, 3L * c}, 'c');
            // y = attDropped @ v
            Nd4j.matmul(attDropped, dyHeads, head(dqkv, 2, b, t, hs), true, false, false); // dv = attDropped^T dy
            INDArray dAtt = Nd4j.matmul(dyHeads, v, Nd4j.createUninitialized(type, new long[]{b, nHead, t, t}, 'c'),
                    false, true, false);                                     // dattDropped = dy v^T
            if (mask != null) dAtt.muli(mask);                               // attDropped = att * mask
            // att = softmax(scores), scores = q k^T * scale:  dscores = att * (datt - sum(datt * att)) * scale
            Nn.softmaxBackwardInPlace(dAtt, att, b * nHead * t, t, scale, true);
            Nd4j.matmul(dAtt, k, head(dqkv, 0, b, t, hs), false, false, false); // dq = dscores k
            Nd4j.matmul(dAtt, q, head(dqkv, 1, b, t, hs), true, false, false);  // dk = dscores^T q
            qkvT.addFreshGrad(dqkv);
        }, qkvT);
    }

    /** Part {@code part} (0 q, 1 k, 2 v) of a (B, T, 3C) array as heads (B, nh, T, hs): a strided view. */
    private INDArray head(INDArray qkv, int part, int b, int t, int hs) {
        return qkv.reshape('c', b, t, 3, nHead, hs).get(all(), all(), point(part), all(), all()).permute(0, 2, 1, 3);
    }

    /** A (B, T, C) array as heads (B, nh, T, hs): a strided view. */
    private INDArray heads(INDArray y, int b, int t, int hs) {
        return y.reshape('c', b, t, nHead, hs).permute(0, 2, 1, 3);
    }

    /**
     * Where the softmax writes the attention weights. Inside a workspace (a training or eval step) it is a
     * reused buffer outside the workspace, so the weights stay readable after the step; outside any
     * workspace (a notebook running the tape by hand) each forward gets its own array.
     */
    private INDArray weightsBuffer(long b, long t, DataType type) {
        long n = b * nHead * t * t;
        if (Nd4j.getMemoryManager().getCurrentWorkspace() == null) {
            weights = Nd4j.createUninitialized(type, new long[]{b, nHead, t, t}, 'c');
            return weights;
        }
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            if (weightsStore == null || weightsStore.length() < n || weightsStore.dataType() != type) {
                weightsStore = Nd4j.createUninitialized(type, n);
            }
            weights = weightsStore.get(NDArrayIndex.interval(0, n)).reshape('c', b, nHead, t, t);
        }
        return weights;
    }

    /** The attention weights (B, nh, T, T) of the last forward pass, as a copy; null before any. */
    INDArray weights() {
        if (weights == null) return null;
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            return weights.dup('c');
        }
    }

    List<Parameter> parameters() {
        List<Parameter> p = new ArrayList<>(cAttn.parameters());
        p.addAll(cProj.parameters());
        return p;
    }
}
