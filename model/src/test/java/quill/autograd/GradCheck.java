package quill.autograd;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.Random;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Finite-difference gradient checking in double precision: the analytic gradient of a scalar built from an
 * op's output must match the central difference (f(x + h) - f(x - h)) / 2h for every input element.
 */
public final class GradCheck {
    private static final double H = 1e-6;
    private static final double TOLERANCE = 1e-6;

    private GradCheck() {
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
        Function<Tensor[], Tensor> loss = withProjection(op, inputs);
        Tensor[] vars = new Tensor[inputs.length];
        for (int i = 0; i < inputs.length; i++) vars[i] = Tensor.variable(inputs[i]);
        loss.apply(vars).backward();
        for (int i = 0; i < inputs.length; i++) {
            INDArray x = inputs[i];
            assertEquals(DataType.DOUBLE, x.dataType(), "gradient checks run in double precision");
            INDArray analytic = vars[i].grad();
            assertNotNull(analytic, name + ": no gradient reached input " + i);
            assertTrue(Arrays.equals(x.shape(), analytic.shape()), name + ": gradient shape " + Arrays.toString(analytic.shape()));
            INDArray flat = x.reshape(x.length());
            double worst = 0, scale = 1e-3;
            for (long j = 0; j < x.length(); j++) {
                double keep = flat.getDouble(j);
                flat.putScalar(j, keep + H);
                double plus = value(loss, inputs);
                flat.putScalar(j, keep - H);
                double minus = value(loss, inputs);
                flat.putScalar(j, keep);
                double numeric = (plus - minus) / (2 * H);
                worst = Math.max(worst, Math.abs(numeric - analytic.reshape(x.length()).getDouble(j)));
                scale = Math.max(scale, Math.abs(numeric));
            }
            assertTrue(worst <= TOLERANCE * scale, name + ": input " + i + " gradient off by " + worst
                    + " (largest gradient " + scale + ")");
        }
    }

    private static double value(Function<Tensor[], Tensor> loss, INDArray[] inputs) {
        Tensor[] consts = new Tensor[inputs.length];
        for (int i = 0; i < inputs.length; i++) consts[i] = Tensor.constant(inputs[i]);
        return loss.apply(consts).value().getDouble(0);
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
