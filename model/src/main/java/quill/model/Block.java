package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import quill.autograd.Ops;
import quill.autograd.Parameter;
import quill.random.Rng;
import quill.autograd.Tensor;

import java.util.ArrayList;
import java.util.List;

/** A pre-norm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x)); the norms come from {@code norm}. */
final class Block {
    final Norm ln1;
    final CausalSelfAttention attn;
    final Norm ln2;
    final Mlp mlp;

    Block(String name, GptConfig config, DataType type, Norm.Factory norm) {
        this.ln1 = norm.create(name + ".ln_1", config.nEmbd(), config.bias(), type);
        this.attn = new CausalSelfAttention(name + ".attn", config, type);
        this.ln2 = norm.create(name + ".ln_2", config.nEmbd(), config.bias(), type);
        this.mlp = new Mlp(name + ".mlp", config, type);
    }

    /** {@code cache}: this block's keys and values when generating (see {@link KvCache}), else null. */
    Tensor forward(Tensor x, Rng rng, KvCache.Layer cache) {
        x = Ops.add(x, attn.forward(ln1.forward(x), rng, cache));  // (B, T, C)
        return Ops.add(x, mlp.forward(ln2.forward(x), rng));        // (B, T, C)
    }

    /**
     * Generation in the model's last block: the next token's logits need the last position's output only, so
     * attention takes every position's key and value into {@code cache} but only the last query, and the MLP
     * runs on that position alone (nanoGPT computes all T and keeps the last). (1, T, C) in, (1, 1, C) out.
     */
    Tensor forwardLast(Tensor x, KvCache.Layer cache) {
        int t = (int) x.size(1), c = (int) x.size(2);
        Tensor last = Tensor.constant(x.value().reshape('c', t, c).getRow(t - 1, true).reshape('c', 1, 1, c));
        x = Ops.add(last, attn.forwardLast(ln1.forward(x), cache)); // (1, 1, C)
        return Ops.add(x, mlp.forward(ln2.forward(x), null));        // (1, 1, C)
    }

    List<Parameter> parameters() {
        List<Parameter> p = new ArrayList<>(ln1.parameters());
        p.addAll(attn.parameters());
        p.addAll(ln2.parameters());
        p.addAll(mlp.parameters());
        return p;
    }
}
