package quill.model;

import quill.optim.AdamW;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import quill.autograd.GradAssert;
import quill.autograd.GradCheck;
import quill.autograd.Nn;
import quill.autograd.Ops;
import quill.autograd.Parameter;
import quill.autograd.Tensor;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A Gpt with a researcher's own norm (RMSNorm, written from the ops) through {@link Norm.Factory}. */
class CustomNormTest {
    /** RMSNorm (Zhang and Sennrich, 2019): x / sqrt(mean(x²) + eps) * weight, no mean, no bias. */
    static final class RmsNorm implements Norm {
        final Parameter weight;

        RmsNorm(String name, int nEmbd, boolean bias, DataType type) {
            weight = new Parameter(name + ".weight", Nd4j.ones(type, nEmbd));
        }

        @Override
        public Tensor forward(Tensor x) {
            Tensor meanSquare = Ops.scale(Ops.sumLastAxis(Ops.mul(x, x)), 1.0 / x.size(2)); // (B, T, 1)
            return Ops.mul(Ops.mul(x, Ops.pow(Ops.addScalar(meanSquare, 1e-5), -0.5)), weight); // (B, T, C)
        }

        @Override
        public List<Parameter> parameters() {
            return List.of(weight);
        }
    }

    @Test
    void customNormKeepsNanoGptNamesAndPassesTheGradientCheck() {
        Gpt gpt = Gpt.withNorm(GptTest.TINY, 3, RmsNorm::new, DataType.DOUBLE);
        assertEquals(List.of("transformer.h.0.ln_1.weight", "transformer.h.0.attn.c_attn.weight"),
                List.copyOf(gpt.parameters().keySet()).subList(2, 4));
        assertTrue(gpt.parameters().containsKey("transformer.ln_f.weight"));
        assertTrue(gpt.parameters().keySet().stream().noneMatch(n -> n.contains("ln_") && n.endsWith(".bias")));
        double error = GradCheck.maxRelativeError(() -> Nn.crossEntropy(gpt.forward(GptTest.X), GptTest.Y),
                gpt.parameters().values());
        assertTrue(error <= GradAssert.TOLERANCE, "gradient off by " + error + " relative");
    }

    @Test
    void customNormTrains() {
        Gpt gpt = Gpt.withNorm(new GptConfig(7, 8, 2, 2, 16, 0.0, false), 1, RmsNorm::new);
        AdamW optimizer = new AdamW(gpt.parameters(), 0.9, 0.99, 1e-8, 0.0);
        int[][] x = {{1, 2, 3, 4, 5, 6, 0, 1}, {3, 4, 5, 6, 0, 1, 2, 3}};
        int[][] y = {{2, 3, 4, 5, 6, 0, 1, 2}, {4, 5, 6, 0, 1, 2, 3, 4}};
        double first = gpt.loss(x, y);
        for (int step = 0; step < 30; step++) {
            gpt.forwardBackward(x, y, 1.0);
            optimizer.step(1e-2);
            gpt.parameters().values().forEach(Parameter::zeroGrad);
        }
        double last = gpt.loss(x, y);
        assertTrue(last < 0.5 * first, "loss went from " + first + " to " + last);
    }

    @Test
    void aNormThatMisnamesItsParametersIsRefused() {
        Norm.Factory sameName = (name, nEmbd, bias, type) -> new RmsNorm("norm", nEmbd, bias, type);
        assertEquals("two parameters are named norm.weight: a Norm must name its parameters after the name it is given",
                assertThrows(IllegalArgumentException.class,
                        () -> Gpt.withNorm(GptTest.TINY, 1, sameName)).getMessage());
    }
}
