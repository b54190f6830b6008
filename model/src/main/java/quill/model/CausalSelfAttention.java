package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import quill.autograd.Composed;
import quill.autograd.Nn;
import quill.autograd.Ops;
import quill.autograd.Parameter;
import quill.random.Rng;
import quill.kernels.Rope;
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
 * <p>When generating, {@link #forward} takes the block's {@link KvCache.Layer}, which computes the attention
 * itself (the same math): a whole window at once after a slide or for a prompt, or new positions over the keys and
 * values it keeps. Everything before and after attention is the same code in both cases.
 *
 * <p>The middle part comes twice. {@link #attendReadable} is nanoGPT's attention line for line, on the tape's
 * small ops: split, view as heads, q k^T, scale, mask, softmax, dropout, the weighted sum of v; a model runs it
 * after {@code Gpt.setReadable(true)}. {@link #attend} computes the same as one op with a hand-written
 * backward, several times faster, and is what training runs: q, k and v are views into c_attn's output,
 * the gradients are written straight into views of c_attn's output gradient, and every intermediate is
 * still an ordinary array you can look at in a debugger. The tests check that both agree.
 */
final class CausalSelfAttention {
    final Linear cAttn;
    final Linear cProj;
    private final int nHead;
    private final double dropout;
    private final boolean qkNorm;
    /** Whether {@link #forward} runs {@link #attendReadable} instead of the fused {@link #attend}. */
    boolean readable;
    /** Null unless the model's positions are rotary. */
    private final Rope rope;
    /** The last forward's attention weights, for {@link Gpt#attention}. */
    final AttentionWeights weights = new AttentionWeights();

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
        Tensor qkv = qkv(x, rng, cache == null ? 0 : cache.length()); // (B, T, 3C)
        Tensor y;                                           // (B, T, C): every head's output side by side
        if (cache == null) {
            y = readable ? attendReadable(qkv, rng) : attend(qkv, rng);
        } else {
            y = cache.attend(qkv);                          // (1, T, C): new positions over the cached ones too
        }
        return Nn.dropout(cProj.forward(y, rng), dropout, rng); // (B, T, C)
    }

    /**
     * Generation in the model's last block: every new position's key and value go into {@code cache}, but the
     * output is the last position's only, (1, T, C) in, (1, 1, C) out (see {@link Block#forwardLast}).
     */
    Tensor forwardLast(Tensor x, KvCache.Layer cache) {
        return cProj.forward(cache.attendLast(qkv(x, null, cache.length())), null); // (1, 1, C)
    }

    /**
     * c_attn, then QK-norm and rotation when on: (B, T, C) to (B, T, 3C), q, k, v side by side; {@code rng}
     * draws c_attn's adapter dropout (null in eval mode).
     */
    private Tensor qkv(Tensor x, Rng rng, int pos0) {
        Tensor qkv = cAttn.forward(x, rng);                 // (B, T, 3C)
        if (qkNorm || rope != null) {                       // QK-norm, then rotate q and k to their positions
            qkv = Variants.qkNormRope(qkv, nHead, qkNorm, rope, pos0);
        }
        return qkv;
    }

    /** nanoGPT's CausalSelfAttention.forward from c_attn's output on, line for line, each step an op on the tape. */
    private Tensor attendReadable(Tensor qkvT, Rng rng) {
        long b = qkvT.size(0), t = qkvT.size(1), c = qkvT.size(2) / 3, hs = c / nHead;
        Tensor[] qkv = Ops.split(qkvT, 2, c, c, c);                                 // q, k, v = c_attn(x).split(C)
        Tensor q = Ops.transpose(Ops.reshape(qkv[0], b, t, nHead, hs), 1, 2);       // (B, nh, T, hs)
        Tensor k = Ops.transpose(Ops.reshape(qkv[1], b, t, nHead, hs), 1, 2);       // (B, nh, T, hs)
        Tensor v = Ops.transpose(Ops.reshape(qkv[2], b, t, nHead, hs), 1, 2);       // (B, nh, T, hs)
        Tensor att = Ops.scale(Ops.matmul(q, Ops.transpose(k, 2, 3)), 1 / Math.sqrt(hs)); // (B, nh, T, T)
        att = Nn.causalMask(att);                                                   // -inf after the query
        att = Composed.softmax(att);                                                // (B, nh, T, T)
        weights.buffer(b, nHead, t, att.dataType()).assign(att.value());           // kept for attention()
        att = Nn.dropout(att, dropout, rng);                                        // no-op without rng
        Tensor y = Ops.matmul(att, v);                                              // (B, nh, T, hs)
        return Ops.reshape(Ops.transpose(y, 1, 2), b, t, c);                        // (B, T, C) heads side by side
    }

    /** softmax(mask(q k^T / sqrt(hs))) v for every head, from the fused projection, as one op. */
    private Tensor attend(Tensor qkvT, Rng rng) {
        int b = (int) qkvT.size(0), t = (int) qkvT.size(1), c = (int) qkvT.size(2) / 3, hs = c / nHead;
        DataType type = qkvT.dataType();
        double scale = 1 / Math.sqrt(hs);
        INDArray q = head(qkvT.value(), 0, b, t, hs);                       // (B, nh, T, hs)
        INDArray k = head(qkvT.value(), 1, b, t, hs);                       // (B, nh, T, hs)
        INDArray v = head(qkvT.value(), 2, b, t, hs);                       // (B, nh, T, hs)
        INDArray scores = Nd4j.matmul(q, k, Nd4j.createUninitialized(type, new long[]{b, nHead, t, t}, 'c'),
                false, true, false);                                        // (B, nh, T, T)  q k^T
        INDArray att = weights.buffer(b, nHead, t, type);                  // (B, nh, T, T)
        Nn.causalSoftmax(scores, att, b * nHead * t, t, t, scale);  // softmax(q k^T / sqrt(hs)) over keys <= query
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
            qkvT.addGrad(dqkv);
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

    List<Parameter> parameters() {
        List<Parameter> p = new ArrayList<>(cAttn.parameters());
        p.addAll(cProj.parameters());
        return p;
    }
}
