package quill.autograd;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A value on the autograd tape: an ND4J array, the gradient of the final loss with respect to it, the
 * tensors it was computed from, and the closure that sends its gradient back to them (micrograd's
 * {@code _backward}). Ops build tensors with {@link #op}; {@link #backward()} walks the tape from a
 * scalar loss back to the leaves in reverse topological order.
 *
 * <p>Every value and gradient is a c-order array, so ops may reshape them as views. A tensor used
 * twice (the token embedding, used for the input and again as {@code lm_head}) sums the gradients of
 * both uses, because every backward <em>adds</em> into its parents' gradients.
 */
public class Tensor {

    /** Sends the gradient of an op's output back into its parents' gradients. */
    @FunctionalInterface
    public interface Backward {
        void apply(INDArray gradOut);
    }

    private final String op;
    private final INDArray value;
    private final Tensor[] parents;
    private final Backward backward;
    /** Not final only for {@link Parameter#setTrainable}: a frozen weight is a constant to every tape after. */
    private boolean requiresGrad;
    INDArray grad;
    /** The layer this result belongs to, set only while a {@link TapeWatch} is on. */
    String module;

    Tensor(String op, INDArray value, INDArray grad, boolean requiresGrad, Backward backward, Tensor... parents) {
        this.op = op;
        this.value = value;
        this.grad = grad;
        this.requiresGrad = requiresGrad;
        this.backward = backward;
        this.parents = parents;
    }

    /** A value no gradient flows into: an input, a mask. */
    public static Tensor constant(INDArray value) {
        return new Tensor("constant", value, null, false, null);
    }

    /** A leaf whose gradient is wanted (a test's input; the model's weights are {@link Parameter}s). */
    public static Tensor variable(INDArray value) {
        return new Tensor("variable", value, null, true, null);
    }

    /**
     * The result of an op. {@code backward} receives d loss / d value and adds each parent's share into
     * that parent (with {@link #addGrad}); it is only kept when some parent wants a gradient.
     */
    public static Tensor op(String name, INDArray value, Backward backward, Tensor... parents) {
        Profiler.forward(name);
        boolean wanted = false;
        for (Tensor p : parents) wanted |= p.requiresGrad;
        Tensor out = wanted ? new Tensor(name, value, null, true, backward, parents)
                : new Tensor(name, value, null, false, null);
        if (TapeWatch.on) TapeWatch.forward(out, parents);
        return out;
    }

    public INDArray value() {
        return value;
    }

    /** d loss / d value after {@link #backward()}; null where no gradient reached this tensor. */
    public INDArray grad() {
        return grad;
    }

    public boolean requiresGrad() {
        return requiresGrad;
    }

    void setRequiresGrad(boolean wanted) {
        this.requiresGrad = wanted;
    }

    public long[] shape() {
        return value.shape();
    }

    public long size(int dim) {
        return value.size(dim);
    }

    public int rank() {
        return value.rank();
    }

    public DataType dataType() {
        return value.dataType();
    }

    /** The name of the op that made this tensor ("linear", "gelu", ...), for debugging. */
    public String opName() {
        return op;
    }

    /** Backpropagates from this scalar: afterwards every tensor it depends on holds d this / d tensor. */
    public void backward() {
        backward(1.0);
    }

    /** As {@link #backward()}, with the seed gradient d loss / d this = {@code seed} (a loss scale). */
    public void backward(double seed) {
        if (value.length() != 1) {
            throw new IllegalStateException("backward() starts from a scalar loss, but this tensor has shape "
                    + Arrays.toString(shape()));
        }
        if (!requiresGrad) return;
        List<Tensor> order = topologicalOrder();
        addGrad(Nd4j.valueArrayOf(shape(), seed, dataType()));
        for (int i = order.size() - 1; i >= 0; i--) {
            Tensor t = order.get(i);
            if (t.backward == null || t.grad == null) continue;
            if (Profiler.on()) {
                Profiler.backward(t.op, () -> t.backward.apply(t.grad));
            } else {
                t.backward.apply(t.grad);
            }
            if (TapeWatch.on) TapeWatch.backward(t, t.parents);
        }
    }

    /** Every tensor that needs a gradient, each after all of its parents (iterative DFS, post-order). */
    private List<Tensor> topologicalOrder() {
        List<Tensor> order = new ArrayList<>();
        Set<Tensor> visited = new HashSet<>();
        Deque<Tensor> stack = new ArrayDeque<>();
        Deque<Integer> nextParent = new ArrayDeque<>();
        stack.push(this);
        nextParent.push(0);
        visited.add(this);
        while (!stack.isEmpty()) {
            Tensor t = stack.peek();
            int i = nextParent.pop();
            if (i < t.parents.length) {
                nextParent.push(i + 1);
                Tensor p = t.parents[i];
                if (p.requiresGrad && visited.add(p)) {
                    stack.push(p);
                    nextParent.push(0);
                }
            } else {
                stack.pop();
                order.add(t);
            }
        }
        return order;
    }

    /**
     * {@code grad += g}: the one way a backward closure hands a parent its share of the gradient (micrograd's
     * {@code self.grad += ...}). {@code g} has the value's shape (or its number of elements) and is copied,
     * never kept, so after {@link #backward()} every tensor's {@link #grad()} is an array of its own.
     */
    public void addGrad(INDArray g) {
        if (!requiresGrad) return;
        if (grad == null) grad = g.dup('c').reshape(value.shape());
        else grad.addi(g.reshape(grad.shape()));
    }

    /**
     * As {@link #addGrad}, without the copy when this is the first gradient: for the tape's own kernels, which
     * hand over an array they have just made and nothing else holds (the copy would cost a full pass over it).
     */
    void addFreshGrad(INDArray g) {
        if (!requiresGrad) return;
        if (grad == null && g.ordering() == 'c' && !g.isView()) grad = g.reshape(value.shape());
        else addGrad(g);
    }

    /** This tensor's gradient array, zero-filled on first use, for kernels that add into it element by element. */
    INDArray gradBuffer() {
        if (grad == null) grad = Nd4j.zeros(dataType(), value.shape());
        return grad;
    }

    /**
     * Adds {@code op(a) op(b)} into this tensor's gradient viewed as a matrix of {@code rows} rows:
     * a gemm with beta 0 into a fresh array, or beta 1 onto the sum so far.
     */
    void addGemmGrad(INDArray a, INDArray b, boolean transA, boolean transB, long rows) {
        if (!requiresGrad) return;
        double beta = 1.0;
        if (grad == null) {
            grad = Nd4j.createUninitialized(dataType(), value.shape(), 'c');
            beta = 0.0;
        }
        INDArray target = grad.reshape('c', rows, grad.length() / rows);
        Nd4j.gemm(a, b, target, transA, transB, 1.0, beta);
    }

    @Override
    public String toString() {
        return op + Arrays.toString(shape()) + " " + dataType();
    }
}
