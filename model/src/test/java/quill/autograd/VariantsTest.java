package quill.autograd;

import quill.kernels.GeluKernel;
import quill.kernels.Rope;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static quill.autograd.GradAssert.check;
import static quill.autograd.GradAssert.random;

/**
 * The architecture switches' functions: each against finite differences in float64, and each fused kernel
 * against the same function composed from the tape's small ops (or, for the rotation, written out from the
 * reference's definition), in float64 and in float32.
 */
class VariantsTest {

    @Test
    void gradients() {
        check("rmsNorm", t -> Variants.rmsNorm(t[0], t[1], Variants.RMS_NORM_EPS), random(1, 2, 3, 6),
                random(2, 6).addi(1));
        check("reluSquared", t -> Variants.reluSquared(t[0]), random(3, 3, 7).muli(3));
        check("softcap", t -> Variants.softcap(t[0], 1.5), random(4, 2, 9).muli(4));
        check("swiglu", t -> Variants.swiglu(t[0]), random(5, 2, 3, 8).muli(2));
        Rope rope = new Rope(4, 10000, 16);
        for (boolean qkNorm : new boolean[]{false, true}) {
            for (Rope r : new Rope[]{null, rope}) {
                if (!qkNorm && r == null) continue;
                for (int pos0 : new int[]{0, 5}) {
                    check("qkNormRope qkNorm=" + qkNorm + " rope=" + (r != null) + " pos0=" + pos0,
                            t -> Variants.qkNormRope(t[0], 2, qkNorm, r, pos0), random(6, 2, 3, 24).muli(2));
                }
            }
        }
    }

    @Test
    void fusedEqualComposed() {
        for (DataType type : new DataType[]{DataType.DOUBLE, DataType.FLOAT}) {
            double tol = type == DataType.DOUBLE ? 1e-12 : 1e-5;
            Tensor x = Tensor.constant(random(7, 2, 3, 6).muli(3).castTo(type));
            Tensor w = Tensor.constant(random(8, 6).addi(1).castTo(type));
            assertClose(composedRmsNorm(x, w), Variants.rmsNorm(x, w, Variants.RMS_NORM_EPS), tol, "rmsNorm " + type);
            assertClose(composedReluSquared(x), Variants.reluSquared(x), tol, "reluSquared " + type);
            assertClose(composedSoftcap(x, 2.5), Variants.softcap(x, 2.5), tol, "softcap " + type);
            assertClose(composedSwiglu(x), Variants.swiglu(x), tol, "swiglu " + type);
        }
    }

    /**
     * The float loops against the double ones (the readable reference): the outputs and every input's gradient
     * for sum(op(inputs) * R) agree to float rounding, at training's sizes (C = 128, 4 heads of 32).
     */
    @Test
    void floatKernelsEqualTheDoubleOnes() {
        Rope rope = new Rope(32, 10000, 64);
        assertFloatMatchesDouble("rmsNorm", t -> Variants.rmsNorm(t[0], t[1], Variants.RMS_NORM_EPS),
                random(11, 3, 64, 128).muli(3), random(12, 128).addi(1));
        assertFloatMatchesDouble("reluSquared", t -> Variants.reluSquared(t[0]), random(13, 3, 64, 512).muli(2));
        assertFloatMatchesDouble("softcap", t -> Variants.softcap(t[0], 30), random(14, 3, 64, 65).muli(40));
        assertFloatMatchesDouble("swiglu", t -> Variants.swiglu(t[0]), random(15, 3, 64, 1024).muli(3));
        for (boolean qkNorm : new boolean[]{false, true}) {
            for (Rope r : new Rope[]{null, rope}) {
                if (!qkNorm && r == null) continue;
                assertFloatMatchesDouble("qkNormRope qkNorm=" + qkNorm + " rope=" + (r != null),
                        t -> Variants.qkNormRope(t[0], 4, qkNorm, r, 0), random(16, 3, 64, 384).muli(2));
            }
        }
    }

    static void assertFloatMatchesDouble(String what, java.util.function.Function<Tensor[], Tensor> op,
                                         INDArray... inputs) {
        INDArray[] values = new INDArray[2];
        INDArray[][] grads = new INDArray[2][inputs.length];
        DataType[] types = {DataType.DOUBLE, DataType.FLOAT};
        for (int k = 0; k < 2; k++) {
            Tensor[] t = new Tensor[inputs.length];
            for (int i = 0; i < inputs.length; i++) t[i] = Tensor.variable(inputs[i].castTo(types[k]));
            Tensor y = op.apply(t);
            Tensor r = Tensor.constant(random(17, y.shape()).castTo(types[k]));
            Ops.sum(Ops.mul(y, r)).backward();
            values[k] = y.value().castTo(DataType.DOUBLE);
            for (int i = 0; i < inputs.length; i++) grads[k][i] = t[i].grad().castTo(DataType.DOUBLE);
        }
        assertRelative(values[0], values[1], what + " output");
        for (int i = 0; i < inputs.length; i++) assertRelative(grads[0][i], grads[1][i], what + " gradient " + i);
    }

    /** Float rounding: within 1e-5 of the largest element (a few float ulps, summed over a row of 128). */
    private static void assertRelative(INDArray expected, INDArray actual, String what) {
        double scale = Math.max(1e-30, expected.amaxNumber().doubleValue());
        double err = actual.sub(expected).amaxNumber().doubleValue() / scale;
        assertTrue(err <= 1e-5, what + ": float differs from double by " + err + " of the largest element");
    }

    /** x * (mean(x^2) + eps)^-1/2 * w. */
    static Tensor composedRmsNorm(Tensor x, Tensor w) {
        Tensor meanSquare = Ops.scale(Ops.sumLastAxis(Ops.mul(x, x)), 1.0 / x.size(x.rank() - 1));
        return Ops.mul(Ops.mul(x, Ops.pow(Ops.addScalar(meanSquare, Variants.RMS_NORM_EPS), -0.5)), w);
    }

    /** relu(x)^2 with relu(x) = (x + |x|) / 2 and |x| = (x^2)^1/2. */
    static Tensor composedReluSquared(Tensor x) {
        Tensor relu = Ops.scale(Ops.add(x, Ops.pow(Ops.mul(x, x), 0.5)), 0.5);
        return Ops.mul(relu, relu);
    }

    /** c tanh(x / c) with tanh(z) = 1 - 2 / (exp(2z) + 1). */
    static Tensor composedSoftcap(Tensor x, double c) {
        Tensor e = Ops.addScalar(Ops.exp(Ops.scale(x, 2 / c)), 1);
        return Ops.scale(Ops.addScalar(Ops.scale(Ops.pow(e, -1), -2), 1), c);
    }

    /** silu(g) * u with sigmoid(g) = 1 / (1 + exp(-g)), g and u the two halves of the last axis. */
    static Tensor composedSwiglu(Tensor h) {
        long half = h.size(h.rank() - 1) / 2;
        Tensor[] gu = Ops.split(h, h.rank() - 1, half, half);
        Tensor sigmoid = Ops.pow(Ops.addScalar(Ops.exp(Ops.scale(gu[0], -1)), 1), -1);
        return Ops.mul(Ops.mul(gu[0], sigmoid), gu[1]);
    }

    /** GELU's erf in double, against values of erf to 16 digits (Abramowitz and Stegun, Table 7.1; Mathematica). */
    @Test
    void geluUsesAnExactErfInDouble() {
        double[][] known = {{0, 0}, {0.1, 0.1124629160182849}, {0.5, 0.5204998778130465}, {1, 0.8427007929497149},
                {2, 0.9953222650189527}, {3, 0.9999779095030014}, {-1.5, -0.9661051464753108}, {7, 1}};
        for (double[] k : known) assertEquals(k[1], GeluKernel.erf(k[0]), 4e-16, "erf(" + k[0] + ")");
    }

    @Test
    void ropeIsTheReferencesRotation() {
        // the reference: inv_freq[i] = base^(-2i/hs); cos, sin of cat(a, a); x' = x cos + rotate_half(x) sin
        int b = 2, t = 5, nHead = 2, hs = 6, c = nHead * hs, pos0 = 3;
        double base = 100;
        INDArray qkv = random(9, b, t, 3 * c);
        INDArray got = Variants.qkNormRope(Tensor.constant(qkv), nHead, false, new Rope(hs, base, 16), pos0).value();
        for (int bi = 0; bi < b; bi++) {
            for (int ti = 0; ti < t; ti++) {
                for (int part = 0; part < 3; part++) {
                    for (int h = 0; h < nHead; h++) {
                        double[] x = new double[hs];
                        for (int d = 0; d < hs; d++) x[d] = qkv.getDouble(bi, ti, part * c + h * hs + d);
                        for (int d = 0; d < hs; d++) {
                            double expected = x[d];
                            if (part < 2) {
                                double angle = (pos0 + ti) * Math.pow(base, -2.0 * (d % (hs / 2)) / hs);
                                double rotated = d < hs / 2 ? -x[d + hs / 2] : x[d - hs / 2];
                                expected = x[d] * Math.cos(angle) + rotated * Math.sin(angle);
                            }
                            assertEquals(expected, got.getDouble(bi, ti, part * c + h * hs + d), 1e-12);
                        }
                    }
                }
            }
        }
    }

    @Test
    void qkNormGivesEachHeadUnitRms() {
        INDArray out = Variants.qkNormRope(Tensor.constant(random(10, 1, 3, 24).muli(5)), 2, true, null, 0).value();
        for (int head = 0; head < 4; head++) {                                     // q's two heads, then k's
            INDArray h = out.get(org.nd4j.linalg.indexing.NDArrayIndex.all(),
                    org.nd4j.linalg.indexing.NDArrayIndex.all(),
                    org.nd4j.linalg.indexing.NDArrayIndex.interval(head * 4, head * 4 + 4));
            INDArray rms = org.nd4j.linalg.ops.transforms.Transforms.sqrt(h.mul(h).mean(2));
            assertTrue(rms.sub(1).amaxNumber().doubleValue() < 1e-4, "head " + head + " rms " + rms);
        }
    }

    @Test
    void ropeRefusesAnOddHeadAndPositionsBeyondItsTable() {
        assertThrows(IllegalArgumentException.class, () -> new Rope(5, 10000, 8));
        Rope rope = new Rope(4, 10000, 4);
        assertThrows(IllegalArgumentException.class,
                () -> Variants.qkNormRope(Tensor.constant(random(1, 1, 2, 12)), 1, false, rope, 3));
    }

    private static void assertClose(Tensor expected, Tensor actual, double tol, String what) {
        INDArray e = expected.value().castTo(DataType.DOUBLE), a = actual.value().castTo(DataType.DOUBLE);
        assertEquals(java.util.Arrays.toString(e.shape()), java.util.Arrays.toString(a.shape()), what);
        double scale = Math.max(1, e.amaxNumber().doubleValue());
        double err = a.sub(e).amaxNumber().doubleValue() / scale;
        assertTrue(err <= tol, what + ": fused differs from composed by " + err);
    }
}
