package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import quill.autograd.Parameter;
import quill.autograd.Tensor;

import java.util.List;

/**
 * The normalisation layer of a {@link Gpt}: {@code ln_1} and {@code ln_2} in every block and the final
 * {@code ln_f}. The default is {@link LayerNorm}; to try another (RMSNorm, say), implement this interface
 * with the ops of {@code quill.autograd.Ops} and {@code Nn}, which record their own backward, and pass its
 * constructor to {@link Gpt#withNorm(GptConfig, long, Factory)}:
 *
 * <pre>{@code
 * class RmsNorm implements Norm {
 *     final Parameter weight;
 *     RmsNorm(String name, int nEmbd, boolean bias, DataType type) {
 *         weight = new Parameter(name + ".weight", Nd4j.ones(type, nEmbd));
 *     }
 *     public Tensor forward(Tensor x) {                                   // (B, T, C)
 *         Tensor meanSquare = Ops.scale(Ops.sumLastAxis(Ops.mul(x, x)), 1.0 / x.size(2)); // (B, T, 1)
 *         return Ops.mul(Ops.mul(x, Ops.pow(Ops.addScalar(meanSquare, 1e-5), -0.5)), weight);
 *     }
 *     public List<Parameter> parameters() { return List.of(weight); }
 * }
 * Gpt model = Gpt.withNorm(config, 1337, RmsNorm::new);
 * }</pre>
 *
 * Check the new layer's gradient with {@link quill.autograd.GradCheck} before training with it.
 */
public interface Norm {
    /** Normalises each position's vector: (B, T, C) in, (B, T, C) out. */
    Tensor forward(Tensor x);

    /** The norm's weights, each named {@code <name>.<weight>} after the name it was made with. */
    List<Parameter> parameters();

    /** Makes one norm layer; {@link Gpt} calls it once per norm, in state-dict order. */
    @FunctionalInterface
    interface Factory {
        /**
         * @param name  the layer's state-dict prefix, e.g. {@code transformer.h.0.ln_1}: name parameters
         *              {@code name + ".weight"} so checkpoints and optimizer state keep nanoGPT's names
         * @param nEmbd the width C of the vectors it normalises
         * @param bias  the model's {@link GptConfig#bias()}: whether its layers carry biases
         * @param type  the parameters' data type (FLOAT, or DOUBLE for gradient checks)
         */
        Norm create(String name, int nEmbd, boolean bias, DataType type);
    }
}
