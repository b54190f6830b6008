package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import quill.autograd.Nn;
import quill.autograd.Parameter;
import quill.autograd.Tensor;

import java.util.List;

/**
 * nn.Linear: {@code y = x W^T + b}, the weight stored [out, in] as PyTorch does; no bias when bias=false.
 * Made with zeros: {@link Gpt} draws the initial weights, as nanoGPT does.
 */
final class Linear {
    final Parameter weight;
    final Parameter bias;

    Linear(String name, int in, int out, boolean bias, DataType type) {
        this.weight = new Parameter(name + ".weight", Init.zeros(type, out, in));
        this.bias = bias ? new Parameter(name + ".bias", Init.zeros(type, out)) : null;
    }

    Tensor forward(Tensor x) {
        return Nn.linear(x, weight, bias);                  // (..., in) -> (..., out)
    }

    List<Parameter> parameters() {
        return bias == null ? List.of(weight) : List.of(weight, bias);
    }
}
