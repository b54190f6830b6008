package quill.kernels;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@link Blas#gemm}, straight to OpenBLAS, against {@code Nd4j.gemm}: every transpose, a row view, the fallbacks. */
class BlasTest {

    /** The largest |ours - ND4J's| relative to ND4J's largest |element|, for c = alpha op(a) op(b) + beta c. */
    private static double error(INDArray a, INDArray b, INDArray c, boolean ta, boolean tb, double alpha, double beta) {
        INDArray expected = c.dup('c');
        Nd4j.gemm(a, b, expected, ta, tb, alpha, beta);
        Blas.gemm(a, b, c, ta, tb, alpha, beta);
        return c.sub(expected).amaxNumber().doubleValue() / expected.amaxNumber().doubleValue();
    }

    @Test
    void everyTransposeAndSizeMatchesNd4j() {
        for (DataType type : new DataType[]{DataType.FLOAT, DataType.DOUBLE}) {
            double tolerance = type == DataType.FLOAT ? 1e-6 : 1e-14;
            for (int m : new int[]{1, 3, 64}) {
                for (boolean ta : new boolean[]{false, true}) {
                    for (boolean tb : new boolean[]{false, true}) {
                        int k = 32, n = 48;
                        INDArray a = ta ? Nd4j.randn(type, k, m) : Nd4j.randn(type, m, k);
                        INDArray b = tb ? Nd4j.randn(type, n, k) : Nd4j.randn(type, k, n);
                        String what = type + " m=" + m + " ta=" + ta + " tb=" + tb;
                        assertEquals(0, error(a, b, Nd4j.randn(type, m, n), ta, tb, 1.0, 0.0), tolerance, what);
                        assertEquals(0, error(a, b, Nd4j.randn(type, m, n), ta, tb, 0.5, 1.0), tolerance,
                                what + " beta=1");
                    }
                }
            }
        }
    }

    @Test
    void aRowOfALargerArrayIsReadAtItsOffset() {
        INDArray x = Nd4j.randn(DataType.FLOAT, 5, 16), w = Nd4j.randn(DataType.FLOAT, 8, 16);
        INDArray row = x.getRow(3, true);                                   // (1, 16), offset 48
        INDArray y = Nd4j.create(DataType.FLOAT, 1, 8);
        Blas.gemm(row, w, y, false, true, 1.0, 0.0);
        INDArray expected = row.dup('c').mmul(w.transpose());
        assertEquals(0, y.sub(expected).amaxNumber().doubleValue(), 1e-5);
    }

    @Test
    void stridedViewsAndFortranOrderGoToNd4j() {
        INDArray a = Nd4j.randn(DataType.FLOAT, 6, 16).get(NDArrayIndex.all(), NDArrayIndex.interval(0, 8)); // gaps
        INDArray b = Nd4j.randn(DataType.FLOAT, 'f', 8, 4);
        assertEquals(0, error(a, b, Nd4j.create(DataType.FLOAT, 6, 4), false, false, 1.0, 0.0), 1e-6);
    }

    /** One head's scores, q_h k_h^T, from the rows of a (T, 3C) array of q, k and v side by side, as in attention. */
    @Test
    void partsOfArraysAreReadAtTheirOffsetsAndRowStrides() {
        for (DataType type : new DataType[]{DataType.FLOAT, DataType.DOUBLE}) {
            int t = 7, c = 12, hs = 4, h = 2;
            INDArray qkv = Nd4j.randn(type, 1, t, 3 * c);
            INDArray q = qkv.get(NDArrayIndex.point(0), NDArrayIndex.all(), NDArrayIndex.interval(h * hs, h * hs + hs));
            INDArray k = qkv.get(NDArrayIndex.point(0), NDArrayIndex.all(),
                    NDArrayIndex.interval(c + h * hs, c + h * hs + hs));
            INDArray scores = Nd4j.zeros(type, 3, t, t);                                // written at slice 1 only
            Blas.gemm(t, t, hs, 0.5, qkv, h * hs, 3 * c, false, qkv, c + h * hs, 3 * c, true, 0, scores, t * t, t);
            INDArray expected = q.dup('c').mmul(k.dup('c').transpose()).muli(0.5);
            double tolerance = type == DataType.FLOAT ? 1e-6 : 1e-14;
            assertEquals(0, scores.slice(1).sub(expected).amaxNumber().doubleValue(), tolerance, type + "");
            assertEquals(0, scores.slice(0).amaxNumber().doubleValue(), 0, type + ": nothing else written");
            assertEquals(0, scores.slice(2).amaxNumber().doubleValue(), 0, type + ": nothing else written");
        }
    }

    @Test
    void partsReachingPastTheirArrayAreRejected() {
        INDArray a = Nd4j.randn(DataType.FLOAT, 4, 8), b = Nd4j.randn(DataType.FLOAT, 8, 8);
        INDArray c = Nd4j.create(DataType.FLOAT, 4, 8);
        assertThrows(IllegalArgumentException.class,                                    // a's 4th row ends at 33
                () -> Blas.gemm(4, 8, 8, 1, a, 1, 8, false, b, 0, 8, false, 0, c, 0, 8));
        assertThrows(IllegalArgumentException.class,                                    // rows closer than their length
                () -> Blas.gemm(4, 8, 8, 1, a, 0, 4, false, b, 0, 8, false, 0, c, 0, 8));
        assertThrows(IllegalArgumentException.class,                                    // mixed precisions
                () -> Blas.gemm(4, 8, 8, 1, a.castTo(DataType.DOUBLE), 0, 8, false, b, 0, 8, false, 0, c, 0, 8));
    }

    /** Memory of its own (no ND4J array) gives the bits of the same product on arrays, and is bounds-checked too. */
    @Test
    void elementsOfTheirOwnMemoryGiveTheSameBitsAsArrays() {
        int t = 7, c = 12, hs = 4, h = 2;
        INDArray qkv = Nd4j.randn(DataType.FLOAT, t, 3 * c), scores = Nd4j.create(DataType.FLOAT, t, t);
        Blas.gemm(t, t, hs, 0.5, qkv, h * hs, 3 * c, false, qkv, c + h * hs, 3 * c, true, 0, scores, 0, t);
        Elements own = Elements.allocate(t * 3 * c), out = Elements.allocate(t * t);
        float[] values = qkv.reshape(-1).toFloatVector(), got = new float[t * t];
        own.put(0, values, values.length);
        Blas.gemm(t, t, hs, 0.5, own, h * hs, 3 * c, false, own, c + h * hs, 3 * c, true, 0, out, 0, t);
        out.get(0, got, got.length);
        float[] expected = scores.reshape(-1).toFloatVector();
        for (int i = 0; i < got.length; i++) assertEquals(Float.floatToIntBits(expected[i]), Float.floatToIntBits(got[i]));
        assertThrows(IllegalArgumentException.class,                                    // past the end of out
                () -> Blas.gemm(t, t, hs, 1, own, 0, 3 * c, false, own, 0, 3 * c, true, 0, out, 1, t));
        assertThrows(IllegalArgumentException.class,                                    // doubles and floats
                () -> Blas.gemm(t, t, hs, 1, own, 0, 3 * c, false, own, 0, 3 * c, true, 0,
                        new Elements(Nd4j.create(DataType.DOUBLE, t, t)), 0, t));
        assertEquals(0, Elements.allocate(5).length() - 5);
        float[] zeros = new float[5];
        Elements.allocate(5).get(0, zeros, 5);
        for (float z : zeros) assertEquals(0, z);
    }

    @Test
    void shapesThatDoNotFitAreRejected() {
        INDArray a = Nd4j.randn(DataType.FLOAT, 2, 3), b = Nd4j.randn(DataType.FLOAT, 4, 5);
        INDArray c = Nd4j.create(DataType.FLOAT, 2, 5);
        assertThrows(IllegalArgumentException.class, () -> Blas.gemm(a, b, c, false, false, 1, 0));
    }
}
