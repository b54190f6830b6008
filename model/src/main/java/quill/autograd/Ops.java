package quill.autograd;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.AddOp;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.MulOp;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Erf;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;
import quill.kernels.Elements;
import quill.kernels.PointwiseKernel;

import java.util.Arrays;

/**
 * Tensor algebra on the tape: each op computes its value and, right beside it, the closure that turns
 * d loss / d output into d loss / d input. The backward comments quote the forward line they differentiate.
 * Elementwise ops broadcast as numpy does; their gradients are summed back to each input's shape.
 * The neural-network functions (linear, layer norm, softmax, ...) are in {@link Nn}.
 */
public final class Ops {
    private Ops() {
    }

    /** a + b, broadcasting. */
    public static Tensor add(Tensor a, Tensor b) {
        INDArray out = broadcastPair(a.value(), b.value(), true);          // out = a + b
        return Tensor.op("add", out, g -> {
            a.addGrad(sumToShape(g, a.shape()));                           // d out / d a = 1
            b.addGrad(sumToShape(g, b.shape()));                           // d out / d b = 1
        }, a, b);
    }

    /** a * b elementwise, broadcasting. */
    public static Tensor mul(Tensor a, Tensor b) {
        INDArray out = broadcastPair(a.value(), b.value(), false);         // out = a * b
        return Tensor.op("mul", out, g -> {
            if (a.requiresGrad()) a.addGrad(sumToShape(broadcastPair(g, b.value(), false), a.shape())); // g * b
            if (b.requiresGrad()) b.addGrad(sumToShape(broadcastPair(g, a.value(), false), b.shape())); // g * a
        }, a, b);
    }

    /** a * s for a constant s. */
    public static Tensor scale(Tensor a, double s) {
        INDArray out = a.value().mul(s);                                    // out = a * s
        return Tensor.op("scale", out, g -> a.addGrad(g.mul(s)), a); // d out / d a = s
    }

    /** a + s for a constant s. */
    public static Tensor addScalar(Tensor a, double s) {
        INDArray out = a.value().add(s);                                    // out = a + s
        return Tensor.op("addScalar", out, a::addGrad, a);                 // d out / d a = 1
    }

    /** a^p elementwise for a constant p. */
    public static Tensor pow(Tensor a, double p) {
        INDArray out = Transforms.pow(a.value(), p, true);                  // out = a^p
        return Tensor.op("pow", out, g ->                                   // d out / d a = p a^(p-1)
                a.addGrad(Transforms.pow(a.value(), p - 1, true).muli(g).muli(p)), a);
    }

    /** e^a elementwise. */
    public static Tensor exp(Tensor a) {
        INDArray out = Transforms.exp(a.value(), true);                     // out = exp(a)
        return Tensor.op("exp", out, g -> a.addGrad(g.mul(out)), a);  // d out / d a = out
    }

    /** Natural log elementwise. */
    public static Tensor log(Tensor a) {
        INDArray out = Transforms.log(a.value(), true);                     // out = log(a)
        return Tensor.op("log", out, g -> a.addGrad(g.div(a.value())), a); // d out / d a = 1 / a
    }

    /** The error function erf elementwise (ND4J's, accurate to double precision). */
    public static Tensor erf(Tensor a) {
        INDArray out = Nd4j.exec(new Erf(a.value(), a.value().ulike()));  // out = erf(a)
        return Tensor.op("erf", out, g -> {                                 // d out / d a = 2/sqrt(pi) exp(-a^2)
            INDArray d = Transforms.exp(a.value().mul(a.value()).negi(), false).muli(2 / Math.sqrt(Math.PI));
            a.addGrad(d.muli(g));
        }, a);
    }

    /** The sum of every element, as a scalar. */
    public static Tensor sum(Tensor a) {
        INDArray out = a.value().sum();                                     // out = sum(a)
        return Tensor.op("sum", out, g ->                                   // d out / d a_i = 1
                a.addGrad(Nd4j.valueArrayOf(a.shape(), g.getDouble(0), a.dataType())), a);
    }

    /** The sum over the last axis, keeping it as size 1: (..., n) to (..., 1). */
    public static Tensor sumLastAxis(Tensor a) {
        INDArray out = a.value().sum(true, a.rank() - 1);                   // out = a.sum(-1, keepdim)
        return Tensor.op("sumLastAxis", out, g ->                           // every a_i gets its row's g
                a.addGrad(broadcastPair(Nd4j.zeros(a.dataType(), a.shape()), g, true)), a);
    }

    /** Matrix product over the last two axes; leading (batch) axes must match: (..., n, k) @ (..., k, m). */
    public static Tensor matmul(Tensor a, Tensor b) {
        if (a.rank() != b.rank() || a.size(a.rank() - 1) != b.size(b.rank() - 2)) {
            throw new IllegalArgumentException("matmul: cannot multiply " + Arrays.toString(a.shape())
                    + " by " + Arrays.toString(b.shape()));
        }
        INDArray out = Nd4j.matmul(a.value(), b.value());                   // out = a @ b
        return Tensor.op("matmul", out, g -> {
            if (a.requiresGrad()) a.addGrad(Nd4j.matmul(g, b.value(), false, true, false)); // g @ b^T
            if (b.requiresGrad()) b.addGrad(Nd4j.matmul(a.value(), g, true, false, false)); // a^T @ g
        }, a, b);
    }

    /** The same elements in a new shape (c order), as PyTorch's view/reshape. */
    public static Tensor reshape(Tensor a, long... shape) {
        INDArray out = a.value().reshape('c', shape);                       // out = a.view(shape)
        return Tensor.op("reshape", out, g -> a.addGrad(g.reshape('c', a.shape())), a);
    }

    /** Reorders the axes: out axis i is a's axis dims[i]. The result is a contiguous copy. */
    public static Tensor permute(Tensor a, int... dims) {
        INDArray out = a.value().permute(dims).dup('c');                    // out = a.permute(dims)
        int[] inverse = new int[dims.length];
        for (int i = 0; i < dims.length; i++) inverse[dims[i]] = i;
        return Tensor.op("permute", out, g -> a.addGrad(g.permute(inverse).dup('c')), a);
    }

    /** Swaps two axes. */
    public static Tensor transpose(Tensor a, int dim0, int dim1) {
        int[] dims = new int[a.rank()];
        for (int i = 0; i < dims.length; i++) dims[i] = i;
        dims[dim0] = dim1;
        dims[dim1] = dim0;
        return permute(a, dims);
    }

    /** Cuts {@code a} along {@code axis} into consecutive pieces of the given sizes (torch.split). */
    public static Tensor[] split(Tensor a, int axis, long... sizes) {
        if (Arrays.stream(sizes).sum() != a.size(axis)) {
            throw new IllegalArgumentException("split: sizes " + Arrays.toString(sizes) + " do not add up to "
                    + a.size(axis) + ", the size of axis " + axis);
        }
        Tensor[] pieces = new Tensor[sizes.length];
        long from = 0;
        for (int p = 0; p < sizes.length; p++) {
            INDArrayIndex[] where = new INDArrayIndex[a.rank()];
            Arrays.fill(where, NDArrayIndex.all());
            where[axis] = NDArrayIndex.interval(from, from + sizes[p]);
            INDArray out = a.value().get(where).dup('c');                   // out = a[..., from:from+size, ...]
            pieces[p] = Tensor.op("split", out, g -> {                      // the piece's slot gets g, the rest 0
                INDArray full = Nd4j.zeros(a.dataType(), a.shape());
                full.get(where).assign(g);
                a.addGrad(full);
            }, a);
            from += sizes[p];
        }
        return pieces;
    }

    /** a + b (add = true) or a * b with numpy broadcasting, into a new array. */
    static INDArray broadcastPair(INDArray a, INDArray b, boolean add) {
        if (Arrays.equals(a.shape(), b.shape())) {
            return a.dataType() == b.dataType() && Elements.isFloatOrDouble(a) && !a.isEmpty()
                    ? PointwiseKernel.addOrMul(a, b, add) : add ? a.add(b) : a.mul(b);
        }
        long[] shape = Shape.broadcastOutputShape(a.shape(), b.shape());
        INDArray out = Nd4j.createUninitialized(a.dataType(), shape, 'c');
        INDArray[] in = {a, b};
        INDArray[] res = {out};
        Nd4j.exec(add ? new AddOp(in, res) : new MulOp(in, res));
        return out;
    }

    /** Sums a broadcast gradient back to an input's shape: over added leading axes and axes of size 1. */
    static INDArray sumToShape(INDArray g, long[] shape) {
        if (Arrays.equals(g.shape(), shape)) return g;
        int extra = g.rank() - shape.length;
        int[] axes = java.util.stream.IntStream.range(0, g.rank())
                .filter(i -> i < extra || (shape[i - extra] == 1 && g.size(i) != 1)).toArray();
        INDArray summed = axes.length == 0 ? g : g.sum(true, axes);
        return summed.reshape('c', shape);
    }
}
