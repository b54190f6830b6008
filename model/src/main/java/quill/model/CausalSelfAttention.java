package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastAddOp;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import quill.autograd.Nn;
import quill.autograd.Parameter;
import quill.autograd.Rng;
import quill.autograd.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Multi-head causal self-attention, as nanoGPT's CausalSelfAttention: one fused projection {@code c_attn}
 * to queries, keys and values for every head, softmax(q k^T / sqrt(hs)) over the keys each query may see,
 * the weighted sum of the values, and the output projection {@code c_proj}.
 *
 * <p>The middle part ({@link #attend}) is one op with a hand-written backward: every intermediate is an
 * ordinary array you can look at in a debugger (q, k, v, scores, att, y), and it is tested against the
 * same math composed from the tape's small ops.
 */
final class CausalSelfAttention {
    final Linear cAttn;
    final Linear cProj;
    private final int nHead;
    private final double dropout;
    /** Backing store of the last forward's attention weights, outside workspaces; grows, never shrinks. */
    private INDArray weightsStore;
    private INDArray weights;

    CausalSelfAttention(String name, GptConfig config, Random init, DataType type) {
        int c = config.nEmbd();
        this.cAttn = new Linear(name + ".c_attn", c, 3 * c, config.bias(), 0.02, init, type);
        this.cProj = new Linear(name + ".c_proj", c, c, config.bias(), Gpt.residualStd(config), init, type);
        this.nHead = config.nHead();
        this.dropout = config.dropout();
    }

    /** {@code rng} draws the dropout masks; null in eval mode (no dropout). */
    Tensor forward(Tensor x, Rng rng) {
        Tensor qkv = cAttn.forward(x);                      // (B, T, 3C): q, k, v side by side
        Tensor y = attend(qkv, rng);                        // (B, T, C): every head's output side by side
        return Nn.dropout(cProj.forward(y), dropout, rng);  // (B, T, C)
    }

    /** softmax(mask(q k^T / sqrt(hs))) v for every head, from the fused projection. */
    private Tensor attend(Tensor qkvT, Rng rng) {
        long b = qkvT.size(0), t = qkvT.size(1), c = qkvT.size(2) / 3, hs = c / nHead;
        double scale = 1 / Math.sqrt(hs);
        INDArray qkv = qkvT.value();
        INDArray heads = qkv.reshape('c', b, t, 3, nHead, hs).permute(2, 0, 3, 1, 4).dup('c'); // (3, B, nh, T, hs)
        INDArray q = part(heads, 0);                                        // (B, nh, T, hs)
        INDArray k = part(heads, 1);                                        // (B, nh, T, hs)
        INDArray v = part(heads, 2);                                        // (B, nh, T, hs)
        INDArray scores = Nd4j.matmul(q, k, false, true, false).muli(scale); // (B, nh, T, T)  q k^T / sqrt(hs)
        INDArray rows = scores.reshape('c', b * nHead, t, t);
        Nd4j.exec(new BroadcastAddOp(rows, Nn.causalBias(t, qkv.dataType()), rows, 1, 2)); // -inf where key > query
        INDArray att = weightsBuffer(b, t, qkv.dataType());                 // (B, nh, T, T)
        Nd4j.exec(new SoftMax(scores.reshape('c', b * nHead * t, t), att.reshape('c', b * nHead * t, t), 1));
        INDArray mask = rng == null || dropout == 0 ? null : Nn.dropoutMask(att.shape(), att.dataType(), dropout, rng);
        INDArray attDropped = mask == null ? att : att.mul(mask);           // (B, nh, T, T)
        INDArray yHeads = Nd4j.matmul(attDropped, v);                        // (B, nh, T, hs)  weighted sum of values
        INDArray y = yHeads.permute(0, 2, 1, 3).dup('c').reshape('c', b, t, c); // (B, T, C)  heads side by side

        return Tensor.op("attention", y, dy -> {
            INDArray dyHeads = dy.reshape('c', b, t, nHead, hs).permute(0, 2, 1, 3).dup('c'); // (B, nh, T, hs)
            INDArray dHeads = Nd4j.createUninitialized(qkv.dataType(), heads.shape(), 'c');   // (3, B, nh, T, hs)
            // yHeads = attDropped @ v
            Nd4j.matmul(attDropped, dyHeads, part(dHeads, 2), true, false, false);    // dv = attDropped^T dy
            INDArray dAtt = Nd4j.matmul(dyHeads, v, false, true, false);               // dattDropped = dy v^T
            if (mask != null) dAtt.muli(mask);                                         // attDropped = att * mask
            // att = softmax(scores):  dscores = att * (datt - sum_keys(datt * att)); masked keys have att = 0
            INDArray dAtt2 = dAtt.reshape('c', b * nHead * t, t), att2 = att.reshape('c', b * nHead * t, t);
            INDArray dot = dAtt2.mul(att2).sum(true, 1);
            INDArray dScores = dAtt2.subiColumnVector(dot).muli(att2).muli(scale).reshape('c', b, nHead, t, t);
            // scores = q k^T * scale
            Nd4j.matmul(dScores, k, part(dHeads, 0), false, false, false);            // dq = dscores k * scale
            Nd4j.matmul(dScores, q, part(dHeads, 1), true, false, false);             // dk = dscores^T q * scale
            // heads = qkv split into q, k, v and heads: put the gradient back in qkv's layout
            qkvT.addGrad(dHeads.permute(1, 3, 0, 2, 4).dup('c').reshape('c', b, t, 3 * c));
        }, qkvT);
    }

    /** q (0), k (1) or v (2) out of the (3, B, nh, T, hs) array: a contiguous view. */
    private static INDArray part(INDArray heads, int i) {
        return heads.get(NDArrayIndex.point(i), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all());
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
