package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import quill.autograd.Nn;
import quill.autograd.Parameter;
import quill.autograd.Tensor;

import java.util.List;

/** LayerNorm with an optional bias (PyTorch's nn.LayerNorm always has one; nanoGPT's bias=False drops it). */
final class LayerNorm {
    final Parameter weight;
    final Parameter bias;

    LayerNorm(String name, int dim, boolean bias, DataType type) {
        this.weight = new Parameter(name + ".weight", Init.ones(type, dim));
        this.bias = bias ? new Parameter(name + ".bias", Init.zeros(type, dim)) : null;
    }

    Tensor forward(Tensor x) {
        return Nn.layerNorm(x, weight, bias, Nn.LAYER_NORM_EPS);   // (B, T, C)
    }

    List<Parameter> parameters() {
        return bias == null ? List.of(weight) : List.of(weight, bias);
    }
}
