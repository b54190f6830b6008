package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import quill.autograd.Nn;
import quill.autograd.Parameter;
import quill.autograd.Tensor;

import java.util.List;
import java.util.Random;

/** nn.Linear: {@code y = x W^T + b}, the weight stored [out, in] as PyTorch does; no bias when bias=false. */
final class Linear {
    final Parameter weight;
    final Parameter bias;

    Linear(String name, int in, int out, boolean bias, double std, Random init, DataType type) {
        this.weight = new Parameter(name + ".weight", Init.normal(init, std, type, out, in));
        this.bias = bias ? new Parameter(name + ".bias", Init.zeros(type, out)) : null;
    }

    Tensor forward(Tensor x) {
        return Nn.linear(x, weight, bias);                  // (..., in) -> (..., out)
    }

    List<Parameter> parameters() {
        return bias == null ? List.of(weight) : List.of(weight, bias);
    }
}
