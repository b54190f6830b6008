package quill.autograd;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.Random;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** The tests' use of {@link GradCheck}: an op's gradients must match finite differences to 1e-6 relative. */
public final class GradAssert {
    public static final double TOLERANCE = 1e-6;

    private GradAssert() {
    }

    /** Random doubles in [-1, 1) of the given shape, reproducible from the seed. */
    public static INDArray random(long seed, long... shape) {
        Random r = new Random(seed);
        long n = Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        double[] d = new double[(int) n];
        for (int i = 0; i < d.length; i++) d[i] = 2 * r.nextDouble() - 1;
        return Nd4j.create(d, shape, DataType.DOUBLE);
    }

    /**
     * Checks d loss / d input for every input, where loss = sum(op(inputs) * R) for a fixed random R
     * (a scalar output is used as it is). {@code op} must build a fresh tape from the tensors it is given.
     */
    public static void check(String name, Function<Tensor[], Tensor> op, INDArray... inputs) {
        double error = GradCheck.maxRelativeError(withProjection(op, inputs), inputs);
        assertTrue(error <= TOLERANCE, name + ": gradient off by " + error + " relative to the largest gradient");
    }

    private static Function<Tensor[], Tensor> withProjection(Function<Tensor[], Tensor> op, INDArray[] inputs) {
        Tensor[] probe = new Tensor[inputs.length];
        for (int i = 0; i < inputs.length; i++) probe[i] = Tensor.constant(inputs[i]);
        long[] outShape = op.apply(probe).shape();
        if (Arrays.stream(outShape).reduce(1, (a, b) -> a * b) == 1) return op;
        Tensor weights = Tensor.constant(random(99, outShape));
        return t -> Ops.sum(Ops.mul(op.apply(t), weights));
    }
}
