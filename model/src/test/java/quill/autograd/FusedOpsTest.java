package quill.autograd;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static quill.autograd.GradAssert.random;

/**
 * The fused functions of {@link Nn} (one op with a hand-written backward) give the same values and
 * gradients as the same math composed from the small ops of {@link Ops}, whose backward the tape derives.
 */
class FusedOpsTest {

    @Test
    void layerNorm() {
        same("layerNorm", t -> Nn.layerNorm(t[0], t[1], t[2], Nn.LAYER_NORM_EPS),
                t -> Composed.layerNorm(t[0], t[1], t[2], Nn.LAYER_NORM_EPS),
                random(1, 3, 4, 8), random(2, 8), random(3, 8));
        same("layerNorm without bias", t -> Nn.layerNorm(t[0], t[1], null, Nn.LAYER_NORM_EPS),
                t -> Composed.layerNorm(t[0], t[1], null, Nn.LAYER_NORM_EPS), random(1, 3, 4, 8), random(2, 8));
    }

    /**
     * GELU's erf is A&S 7.1.28, the composed one ND4J's exact erf: GELU agrees to 5e-7 and its derivative
     * to 1.4e-6 (the bounds over the whole real line).
     */
    @Test
    void gelu() {
        same("gelu", t -> Nn.gelu(t[0]), t -> Composed.gelu(t[0]), 2e-6, random(1, 5, 9).muli(4));
    }

    /**
     * The float loops (training's) against the double ones, at training's sizes: outputs and gradients agree to
     * float rounding (GELU's float erf is A&amp;S's, within 3e-7 of the double one's).
     */
    @Test
    void floatKernelsEqualTheDoubleOnes() {
        VariantsTest.assertFloatMatchesDouble("layerNorm", t -> Nn.layerNorm(t[0], t[1], t[2], Nn.LAYER_NORM_EPS),
                random(21, 3, 64, 128).muli(3), random(22, 128).addi(1), random(23, 128));
        VariantsTest.assertFloatMatchesDouble("layerNorm without bias",
                t -> Nn.layerNorm(t[0], t[1], null, Nn.LAYER_NORM_EPS), random(24, 3, 64, 128), random(25, 128));
        VariantsTest.assertFloatMatchesDouble("gelu", t -> Nn.gelu(t[0]), random(26, 3, 64, 512).muli(3));
    }

    @Test
    void softmax() {
        same("softmax", t -> Nn.softmax(t[0]), t -> Composed.softmax(t[0]), random(1, 2, 3, 7).muli(3));
    }

    @Test
    void crossEntropy() {
        int[][] targets = {{0, 6, -1, 3}, {2, -1, 1, 5}};
        same("crossEntropy", t -> Nn.crossEntropy(t[0], targets), t -> Composed.crossEntropy(t[0], targets),
                random(1, 2, 4, 7).muli(3));
    }

    /**
     * Runs both versions on the same inputs and compares the outputs and the gradients of
     * sum(output * R) with respect to every input, to 1e-10 of their largest magnitude.
     */
    static void same(String name, Function<Tensor[], Tensor> fused, Function<Tensor[], Tensor> composed,
                     INDArray... inputs) {
        same(name, fused, composed, 1e-10, inputs);
    }

    static void same(String name, Function<Tensor[], Tensor> fused, Function<Tensor[], Tensor> composed,
                     double tolerance, INDArray... inputs) {
        Tensor[] a = variables(inputs), b = variables(inputs);
        Tensor outA = fused.apply(a), outB = composed.apply(b);
        assertArrayEquals(outB.shape(), outA.shape(), name + ": shape");
        close(name + " value", outB.value(), outA.value(), tolerance);
        Tensor r = Tensor.constant(random(7, outA.shape()));
        Ops.sum(Ops.mul(outA, r)).backward();
        Ops.sum(Ops.mul(outB, r)).backward();
        for (int i = 0; i < inputs.length; i++) close(name + " gradient " + i, b[i].grad(), a[i].grad(), tolerance);
    }

    static void close(String what, INDArray expected, INDArray actual, double tolerance) {
        double scale = Math.max(1e-12, expected.amaxNumber().doubleValue());
        double err = expected.sub(actual).amaxNumber().doubleValue();
        assertTrue(err <= tolerance * scale, what + ": off by " + err + " (largest magnitude " + scale + ")");
    }

    private static Tensor[] variables(INDArray[] inputs) {
        Tensor[] t = new Tensor[inputs.length];
        for (int i = 0; i < inputs.length; i++) t[i] = Tensor.variable(inputs[i].dup());
        return t;
    }
}
