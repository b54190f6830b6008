package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import quill.autograd.Nn;
import quill.autograd.Ops;
import quill.autograd.Parameter;
import quill.random.Rng;
import quill.autograd.Tensor;
import quill.random.TorchGenerator;

import java.util.List;

/**
 * A LoRA adapter on a frozen Linear layer: E. Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models",
 * 2021 (arXiv:2106.09685). The layer computes {@code x W^T + (alpha / R) x A^T B^T}: its weight is in effect
 * {@code W + (alpha / R) B A}, where A is (R, in) and B is (out, R), so the update to W has rank at most R and
 * costs R (in + out) numbers instead of in x out.
 *
 * <p>The initialisation is the paper's and PEFT's: B is zero, so the adapted model starts as exactly the base
 * model; A is drawn as PEFT draws it, {@code kaiming_uniform_(a=sqrt(5))}, which is uniform in
 * [-1/sqrt(in), 1/sqrt(in)], so that B's first gradient, (dL/dy)^T (x A^T), is neither vanishing nor huge.
 * Dropout, when on, acts on the adapter's input only (PEFT's {@code lora_dropout}): the frozen path sees x whole.
 */
final class Lora {
    final Parameter a;
    final Parameter b;
    private final double scale;
    private final double dropout;

    /** An adapter for the layer {@code layer} (its state-dict name) of {@code in} inputs and {@code out} outputs. */
    Lora(String layer, int in, int out, LoraConfig config, DataType type) {
        this.a = new Parameter(layer + ".lora_A.weight", Init.zeros(type, config.rank(), in));
        this.b = new Parameter(layer + ".lora_B.weight", Init.zeros(type, out, config.rank()));
        this.scale = config.scale();
        this.dropout = config.dropout();
    }

    /** A's first values (B stays zero): uniform in [-1/sqrt(in), 1/sqrt(in)], as kaiming_uniform_(a=sqrt(5)) draws. */
    void initialize(TorchGenerator g) {
        long n = a.value().length();
        double bound = 1 / Math.sqrt(a.size(1));
        double[] values = new double[(int) n];
        for (int i = 0; i < n; i++) values[i] = (2 * g.uniformFloat() - 1) * bound;
        a.value().assign(Nd4j.create(values, a.shape(), 'c').castTo(a.dataType()));
    }

    /** (alpha / R) dropout(x) A^T B^T: (..., in) to (..., out). {@code rng} null: no dropout. */
    Tensor forward(Tensor x, Rng rng) {
        Tensor h = Nn.linear(Nn.dropout(x, dropout, rng), a, null);  // (..., R)
        return Ops.scale(Nn.linear(h, b, null), scale);              // (..., out)
    }

    /** (alpha / R) B A, (out, in): what merging adds to the layer's weight. */
    INDArray delta() {
        return b.value().mmul(a.value()).muli(scale);
    }

    List<Parameter> parameters() {
        return List.of(a, b);
    }
}
