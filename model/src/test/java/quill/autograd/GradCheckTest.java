package quill.autograd;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static quill.autograd.GradAssert.random;

class GradCheckTest {
    /** x² with a backward that forgets the factor 2: the kind of mistake the check exists to catch. */
    static Tensor wrongSquare(Tensor x) {
        return Tensor.op("wrong-square", x.value().mul(x.value()), g -> x.addGrad(g.mul(x.value())), x);
    }

    @Test
    void aRightBackwardPassesAndAWrongOneDoesNot() {
        INDArray x = random(1, 3, 4);
        INDArray before = x.dup();
        assertTrue(GradCheck.maxRelativeError(t -> Ops.sum(Ops.mul(t[0], t[0])), x) < 1e-8);
        assertEquals(0.5, GradCheck.maxRelativeError(t -> Ops.sum(wrongSquare(t[0])), x), 1e-6);
        assertEquals(before, x, "the inputs are restored");
    }

    @Test
    void saysWhatIsWrong() {
        assertThrows(IllegalArgumentException.class,
                () -> GradCheck.maxRelativeError(t -> Ops.sum(t[0]), random(1, 3).castTo(DataType.FLOAT)));
        assertThrows(IllegalStateException.class,
                () -> GradCheck.maxRelativeError(t -> Ops.sum(t[0]), random(1, 3), random(2, 3)));
        assertThrows(IllegalArgumentException.class,
                () -> GradCheck.maxRelativeError(t -> t[0], random(1, 3)));
    }
}
