package quill.autograd;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link Ops#add} and {@link Ops#mul} of two arrays of one shape run Quill's own loop
 * ({@code PointwiseKernel.addOrMul}) instead of ND4J's op: the same bits as ND4J's, in both precisions, for views
 * too (one rounding per element either way, so training's numbers do not move).
 */
class PointwiseOpsTest {

    @Test
    void sameBitsAsNd4jInBothPrecisions() {
        for (DataType type : new DataType[]{DataType.FLOAT, DataType.DOUBLE}) {
            INDArray a = Nd4j.randn(type, 3, 5, 700), b = Nd4j.randn(type, 3, 5, 700); // 10,500: several blocks
            Tensor ta = Tensor.constant(a), tb = Tensor.constant(b);
            assertEquals(0, largestDifference(a.add(b), Ops.add(ta, tb)), type + " add");
            assertEquals(0, largestDifference(a.mul(b), Ops.mul(ta, tb)), type + " mul");
        }
    }

    @Test
    void viewsAreReadInTheirOwnOrder() {
        INDArray a = Nd4j.randn(DataType.FLOAT, 6, 4).transpose();                      // (4, 6), not c-order
        INDArray b = Nd4j.randn(DataType.FLOAT, 4, 12).reshape('c', 4, 2, 6).slice(1, 1); // (4, 6), with gaps
        assertEquals(0, largestDifference(a.add(b), Ops.add(Tensor.constant(a), Tensor.constant(b))));
    }

    /** 0 exactly when every element is the same number. */
    private static double largestDifference(INDArray expected, Tensor actual) {
        assertEquals(expected.dataType(), actual.dataType());
        return expected.sub(actual.value()).amaxNumber().doubleValue();
    }
}
