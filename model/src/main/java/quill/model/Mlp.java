package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import quill.autograd.Nn;
import quill.autograd.Parameter;
import quill.autograd.Rng;
import quill.autograd.Tensor;

import java.util.ArrayList;
import java.util.List;

/** The feed-forward half of a block: expand to 4C, GELU, project back to C. */
final class Mlp {
    final Linear cFc;
    final Linear cProj;
    private final double dropout;

    Mlp(String name, GptConfig config, DataType type) {
        int c = config.nEmbd();
        this.cFc = new Linear(name + ".c_fc", c, 4 * c, config.bias(), type);
        this.cProj = new Linear(name + ".c_proj", 4 * c, c, config.bias(), type);
        this.dropout = config.dropout();
    }

    /** {@code rng} draws the dropout masks; null in eval mode (no dropout). */
    Tensor forward(Tensor x, Rng rng) {
        Tensor h = Nn.gelu(cFc.forward(x));                 // (B, T, 4C)
        return Nn.dropout(cProj.forward(h), dropout, rng);  // (B, T, C)
    }

    List<Parameter> parameters() {
        List<Parameter> p = new ArrayList<>(cFc.parameters());
        p.addAll(cProj.parameters());
        return p;
    }
}
