package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import quill.autograd.Composed;
import quill.autograd.Nn;
import quill.autograd.Parameter;
import quill.autograd.Tensor;

import java.util.List;

/**
 * LayerNorm with an optional bias (PyTorch's nn.LayerNorm always has one; nanoGPT's bias=False drops it):
 * {@code (x - mean) / sqrt(var + eps) * weight + bias} over the last axis. {@link Gpt}'s default {@link Norm}.
 */
public final class LayerNorm implements Norm {
    final Parameter weight;
    final Parameter bias;
    /** Whether {@link #forward} runs the formula step by step ({@link Composed#layerNorm}) instead of the fused op. */
    boolean readable;

    /** Unit gain and zero bias, named {@code name.weight} and {@code name.bias}; a {@link Norm.Factory}. */
    public LayerNorm(String name, int dim, boolean bias, DataType type) {
        this.weight = new Parameter(name + ".weight", Init.ones(type, dim));
        this.bias = bias ? new Parameter(name + ".bias", Init.zeros(type, dim)) : null;
    }

    @Override
    public Tensor forward(Tensor x) {
        return readable ? Composed.layerNorm(x, weight, bias, Nn.LAYER_NORM_EPS)  // (B, T, C)
                : Nn.layerNorm(x, weight, bias, Nn.LAYER_NORM_EPS);
    }

    @Override
    public List<Parameter> parameters() {
        return bias == null ? List.of(weight) : List.of(weight, bias);
    }
}
