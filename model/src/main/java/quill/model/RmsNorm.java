package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import quill.autograd.Parameter;
import quill.autograd.Tensor;
import quill.autograd.Variants;

import java.util.List;

/**
 * RMSNorm (Zhang &amp; Sennrich 2019; LLaMA's norm): {@code x * rsqrt(mean(x^2) + eps) * weight} over the last
 * axis. It has no bias even when the model's Linear layers do (the reference's definition). The weight starts
 * at one, as LayerNorm's does: at first the layer only rescales each vector to unit RMS.
 */
public final class RmsNorm implements Norm {
    final Parameter weight;

    /** A {@link Norm.Factory}: unit gain named {@code name.weight}; {@code bias} is ignored (RMSNorm has none). */
    public RmsNorm(String name, int dim, boolean bias, DataType type) {
        this.weight = new Parameter(name + ".weight", Init.ones(type, dim));
    }

    @Override
    public Tensor forward(Tensor x) {
        return Variants.rmsNorm(x, weight, Variants.RMS_NORM_EPS);  // (B, T, C)
    }

    @Override
    public List<Parameter> parameters() {
        return List.of(weight);
    }
}
