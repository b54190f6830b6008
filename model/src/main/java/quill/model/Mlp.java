package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import quill.autograd.Composed;
import quill.autograd.Nn;
import quill.autograd.Parameter;
import quill.random.Rng;
import quill.autograd.Tensor;
import quill.autograd.Variants;

import java.util.ArrayList;
import java.util.List;

/**
 * The feed-forward half of a block: expand to the hidden width H (nanoGPT: 4C), a nonlinearity, project back
 * to C. The nonlinearity is {@link Architecture#mlp()}: GELU (nanoGPT), ReLU squared, or SwiGLU, whose
 * {@code c_fc} makes 2H outputs (a gate and a value) so that it multiplies two projections of x.
 */
final class Mlp {
    final Linear cFc;
    final Linear cProj;
    private final Architecture.MlpType kind;
    private final double dropout;
    /** Whether GELU runs as its formula on the tape ({@link Composed#gelu}) instead of the fused op. */
    boolean readable;

    Mlp(String name, GptConfig config, DataType type) {
        int c = config.nEmbd(), hidden = config.mlpHidden();
        this.kind = config.arch().mlp();
        int fcOut = kind == Architecture.MlpType.SWIGLU ? 2 * hidden : hidden;
        this.cFc = new Linear(name + ".c_fc", c, fcOut, config.bias(), type);
        this.cProj = new Linear(name + ".c_proj", hidden, c, config.bias(), type);
        this.dropout = config.dropout();
    }

    /** {@code rng} draws the dropout masks; null in eval mode (no dropout). */
    Tensor forward(Tensor x, Rng rng) {
        Tensor h = cFc.forward(x, rng);                     // (B, T, H), or (B, T, 2H) for SwiGLU
        h = switch (kind) {
            case GELU -> readable ? Composed.gelu(h) : Nn.gelu(h); // (B, T, H)
            case RELU2 -> Variants.reluSquared(h);          // (B, T, H)  relu(h)^2
            case SWIGLU -> Variants.swiglu(h);              // (B, T, H)  silu(gate) * value
        };
        return Nn.dropout(cProj.forward(h, rng), dropout, rng); // (B, T, C)
    }

    List<Parameter> parameters() {
        List<Parameter> p = new ArrayList<>(cFc.parameters());
        p.addAll(cProj.parameters());
        return p;
    }
}
