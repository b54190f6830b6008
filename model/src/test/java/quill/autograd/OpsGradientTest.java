package quill.autograd;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static quill.autograd.GradAssert.check;
import static quill.autograd.GradAssert.random;

/** Every tensor-algebra op against finite differences in double precision. */
class OpsGradientTest {

    @Test
    void add() {
        check("add same shape", t -> Ops.add(t[0], t[1]), random(1, 2, 3), random(2, 2, 3));
        check("add broadcast rows", t -> Ops.add(t[0], t[1]), random(1, 2, 3, 4), random(2, 3, 4));
        check("add broadcast size 1", t -> Ops.add(t[0], t[1]), random(1, 2, 3, 1), random(2, 1, 3, 4));
    }

    @Test
    void addUsesTheSameTensorTwice() {
        check("x + x", t -> Ops.add(t[0], t[0]), random(1, 3, 2));
    }

    @Test
    void everyTensorKeepsItsOwnGradientThroughResidualSums() {
        Tensor x0 = Tensor.variable(random(1, 2, 3));
        Tensor w = Tensor.constant(random(2, 2, 3));
        Tensor x1 = Ops.add(x0, Ops.scale(x0, 2));          // 3 x0, the way a block adds to the residual stream
        Tensor x2 = Ops.add(x1, Ops.scale(x1, 3));          // 4 x1
        Ops.sum(Ops.mul(x2, w)).backward();
        assertEquals(w.value(), x2.grad());                 // d loss / d x2 = w
        assertEquals(w.value().mul(4), x1.grad());          // not x2's array, changed by x1's other use
        assertEquals(w.value().mul(12), x0.grad());
        assertNotSame(x1.grad().data(), x2.grad().data());
        assertNotSame(x0.grad().data(), x1.grad().data());
    }

    @Test
    void mul() {
        check("mul", t -> Ops.mul(t[0], t[1]), random(1, 2, 3), random(2, 2, 3));
        check("mul broadcast", t -> Ops.mul(t[0], t[1]), random(1, 2, 3, 4), random(2, 2, 3, 1));
    }

    @Test
    void scaleAndAddScalar() {
        check("scale", t -> Ops.scale(t[0], -2.5), random(1, 3, 4));
        check("addScalar", t -> Ops.addScalar(t[0], 0.7), random(1, 3, 4));
    }

    @Test
    void powExpLogErf() {
        INDArray positive = Transforms.abs(random(3, 3, 4)).addi(0.5);
        check("pow", t -> Ops.pow(t[0], -0.5), positive);
        check("exp", t -> Ops.exp(t[0]), random(1, 3, 4));
        check("log", t -> Ops.log(t[0]), positive);
        check("erf", t -> Ops.erf(t[0]), random(1, 3, 4).muli(2));
    }

    @Test
    void sums() {
        check("sum", t -> Ops.sum(t[0]), random(1, 2, 3, 4));
        check("sumLastAxis", t -> Ops.sumLastAxis(t[0]), random(1, 2, 3, 4));
    }

    @Test
    void matmul() {
        check("matmul 2-D", t -> Ops.matmul(t[0], t[1]), random(1, 3, 4), random(2, 4, 5));
        check("matmul batched", t -> Ops.matmul(t[0], t[1]), random(1, 2, 3, 4, 5), random(2, 2, 3, 5, 2));
    }

    @Test
    void shapes() {
        check("reshape", t -> Ops.reshape(t[0], 4, 6), random(1, 2, 3, 4));
        check("permute", t -> Ops.permute(t[0], 2, 0, 1), random(1, 2, 3, 4));
        check("transpose", t -> Ops.transpose(t[0], 1, 2), random(1, 2, 3, 4));
        check("split", t -> {
            Tensor[] p = Ops.split(t[0], 2, 2, 3, 1);
            return Ops.add(Ops.sum(Ops.mul(p[0], p[0])), Ops.add(Ops.sum(Ops.scale(p[1], 2)), Ops.sum(Ops.exp(p[2]))));
        }, random(1, 2, 3, 6));
        check("split middle axis", t -> Ops.split(t[0], 1, 1, 2)[1], random(4, 2, 3, 2));
    }

    @Test
    void constantsGetNoGradient() {
        Tensor x = Tensor.variable(random(1, 2, 2));
        Tensor c = Tensor.constant(random(2, 2, 2));
        Ops.sum(Ops.mul(x, c)).backward();
        org.junit.jupiter.api.Assertions.assertNull(c.grad());
        org.junit.jupiter.api.Assertions.assertEquals(c.value(), x.grad());
    }

    @Test
    void backwardNeedsAScalar() {
        Tensor x = Tensor.variable(Nd4j.ones(org.nd4j.linalg.api.buffer.DataType.DOUBLE, 2));
        org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> Ops.scale(x, 2).backward());
    }
}
