package quill.autograd;

import quill.random.Rng;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static quill.autograd.GradAssert.check;
import static quill.autograd.GradAssert.random;

/** Every neural-network function against finite differences in double precision. */
class NnGradientTest {

    @Test
    void linear() {
        check("linear", t -> Nn.linear(t[0], t[1], t[2]), random(1, 2, 3, 4), random(2, 5, 4), random(3, 5));
        check("linear without bias", t -> Nn.linear(t[0], t[1], null), random(1, 3, 4), random(2, 5, 4));
    }

    @Test
    void embeddingAccumulatesRepeatedIds() {
        int[][] ids = {{1, 3, 1}, {0, 1, 4}};
        check("embedding", t -> Nn.embedding(t[0], ids), random(1, 5, 3));
    }

    @Test
    void tiedWeightSumsBothUses() {
        int[][] ids = {{1, 3, 1}, {0, 2, 4}};
        int[][] targets = {{3, 1, -1}, {2, 4, 0}};
        check("embedding + tied lm_head", t -> Nn.crossEntropy(Nn.linear(Nn.embedding(t[0], ids), t[0], null), targets),
                random(1, 5, 3));
    }

    @Test
    void layerNorm() {
        check("layerNorm", t -> Nn.layerNorm(t[0], t[1], t[2], Nn.LAYER_NORM_EPS),
                random(1, 2, 3, 5), random(2, 5).addi(1), random(3, 5));
        check("layerNorm without bias", t -> Nn.layerNorm(t[0], t[1], null, Nn.LAYER_NORM_EPS),
                random(1, 4, 6), random(2, 6));
    }

    @Test
    void gelu() {
        check("gelu", t -> Nn.gelu(t[0]), random(1, 3, 7).muli(3));
    }

    @Test
    void softmax() {
        check("softmax", t -> Nn.softmax(t[0]), random(1, 2, 3, 5).muli(3));
    }

    @Test
    void causalMaskThenSoftmax() {
        check("causalMask", t -> Nn.softmax(Nn.causalMask(t[0])), random(1, 2, 2, 4, 4));
    }

    @Test
    void dropoutWithAFixedMask() {
        check("dropout", t -> Nn.dropout(t[0], 0.3, new Rng(5)), random(1, 4, 6));
    }

    @Test
    void crossEntropyIgnoresMinusOne() {
        int[][] targets = {{0, 4, -1}, {2, -1, 1}};
        check("crossEntropy", t -> Nn.crossEntropy(t[0], targets), random(1, 2, 3, 5).muli(3));
    }

    @Test
    void crossEntropyOfUniformLogitsIsLogV() {
        Tensor loss = Nn.crossEntropy(Tensor.constant(Nd4j.zeros(DataType.DOUBLE, 2, 3, 7)),
                new int[][]{{1, 2, 3}, {4, 5, 6}});
        assertEquals(Math.log(7), loss.value().getDouble(0), 1e-12);
    }

    @Test
    void dropoutIsInvertedAndSeeded() {
        INDArray ones = Nd4j.ones(DataType.DOUBLE, 100, 100);
        INDArray a = Nn.dropout(Tensor.constant(ones), 0.25, new Rng(3)).value();
        INDArray b = Nn.dropout(Tensor.constant(ones), 0.25, new Rng(3)).value();
        INDArray c = Nn.dropout(Tensor.constant(ones), 0.25, new Rng(4)).value();
        assertEquals(a, b);
        assertNotEquals(a, c);
        assertEquals(1.0, a.meanNumber().doubleValue(), 0.03);           // E[mask] = 1
        assertEquals(0.25, a.eq(0).castTo(DataType.DOUBLE).meanNumber().doubleValue(), 0.02);
        Tensor x = Tensor.constant(ones);
        assertSame(x, Nn.dropout(x, 0.0, new Rng(3)));                      // p = 0 is the identity
    }

    /** PyTorch's GELU uses the exact erf; ours is within 5e-7 of it everywhere (A&S 7.1.28 erf, |error| <= 3e-7). */
    @Test
    void geluIsWithinFiveTenMillionthsOfTheExactErfGelu() {
        double worst = 0;
        double[] xs = new double[4001];
        for (int i = 0; i < xs.length; i++) xs[i] = -10 + i * 0.005;
        INDArray y = Nn.gelu(Tensor.constant(Nd4j.createFromArray(xs))).value();
        for (int i = 0; i < xs.length; i++) {
            double exact = xs[i] * 0.5 * (1 + org.apache.commons.math3.special.Erf.erf(xs[i] / Math.sqrt(2)));
            worst = Math.max(worst, Math.abs(y.getDouble(i) - exact));
        }
        assertTrue(worst <= 5e-7, "GELU off by " + worst);
        // x * (1 + erf(x / sqrt 2)) / 2 from Python's math.erf, which torch.nn.functional.gelu computes
        double[] x = {-3, -1, -0.5, 0, 0.5, 1, 3};
        double[] expected = {-0.00404969409489031, -0.15865525393145707, -0.15426876936299344, 0.0,
                0.34573123063700656, 0.8413447460685429, 2.99595030590511};
        INDArray g = Nn.gelu(Tensor.constant(Nd4j.createFromArray(x))).value();
        for (int i = 0; i < x.length; i++) assertEquals(expected[i], g.getDouble(i), 5e-7);
    }
}
