package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import quill.autograd.Nn;
import quill.autograd.Ops;
import quill.autograd.Parameter;
import quill.random.Rng;
import quill.autograd.Tensor;

import java.util.List;

/**
 * nn.Linear: {@code y = x W^T + b}, the weight stored [out, in] as PyTorch does; no bias when bias=false.
 * Made with zeros: {@link Gpt} draws the initial weights, as nanoGPT does. With a {@link Lora} adapter the
 * layer adds the adapter's output to its own (its weight and bias are then frozen).
 */
final class Linear {
    final Parameter weight;
    final Parameter bias;
    /** The layer's adapter, or null ({@link Gpt#addLora}). */
    Lora lora;

    Linear(String name, int in, int out, boolean bias, DataType type) {
        this.weight = new Parameter(name + ".weight", Init.zeros(type, out, in));
        this.bias = bias ? new Parameter(name + ".bias", Init.zeros(type, out)) : null;
    }

    /** {@code rng} draws the adapter's dropout mask; null in eval mode. */
    Tensor forward(Tensor x, Rng rng) {
        Tensor y = Nn.linear(x, weight, bias);              // (..., in) -> (..., out)
        return lora == null ? y : Ops.add(y, lora.forward(x, rng)); // + (alpha / R) x A^T B^T
    }

    List<Parameter> parameters() {
        return bias == null ? List.of(weight) : List.of(weight, bias);
    }
}
