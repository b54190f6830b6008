package quill.autograd;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * Finite-difference gradient checking: is the tape's backward right? For every element of every input,
 * nudge it by ±h, recompute the scalar loss, and compare the central difference
 * {@code (L(x + h) - L(x - h)) / 2h} with the gradient that {@link Tensor#backward()} computed.
 *
 * <p>Run it in double precision ({@code DataType.DOUBLE}): there a correct backward agrees to about
 * 1e-9 relative, and a wrong one is off in the first digits. In float32 rounding hides the difference.
 * It costs two forward passes per input element, so use small shapes.
 *
 * <pre>{@code
 * double err = GradCheck.maxRelativeError(t -> Ops.sum(Ops.mul(myLayer(t[0], t[1]), r)), x, gain);
 * double errModel = GradCheck.maxRelativeError(() -> Nn.crossEntropy(gpt.forward(idx), targets),
 *         gpt.parameters().values());  // a Gpt built with DataType.DOUBLE
 * }</pre>
 */
public final class GradCheck {
    /** The nudge h: small enough for the O(h²) error of central differences, large enough for rounding. */
    public static final double STEP = 1e-6;
    /** Gradients smaller than this count as this large when scaling the error (no division by ~0). */
    private static final double MIN_SCALE = 1e-3;

    private GradCheck() {
    }

    /**
     * The worst relative error of the gradients of {@code loss} with respect to each of {@code inputs}:
     * for each input, the largest |analytic - numeric| over its elements divided by its largest |numeric|
     * gradient (at least 1e-3); the largest of these. {@code loss} receives one tensor per input and must
     * build a fresh tape from them that ends in a scalar. The inputs are changed during the check and
     * restored afterwards.
     */
    public static double maxRelativeError(Function<Tensor[], Tensor> loss, INDArray... inputs) {
        Tensor[] leaves = Arrays.stream(inputs).map(Tensor::variable).toArray(Tensor[]::new);
        return maxRelativeError(() -> loss.apply(leaves), List.of(leaves));
    }

    /**
     * As {@link #maxRelativeError(Function, INDArray...)} with respect to tensors that {@code loss} uses
     * itself, such as a model's {@link Parameter}s. Their gradients are overwritten (a Parameter's is
     * left holding d loss / d parameter); their values are changed during the check and restored.
     */
    public static double maxRelativeError(Supplier<Tensor> loss, Collection<? extends Tensor> leaves) {
        for (Tensor leaf : leaves) {
            if (leaf.dataType() != DataType.DOUBLE) {
                throw new IllegalArgumentException("gradient checks need double precision, but " + leaf + " is "
                        + leaf.dataType() + ": build the inputs (or the model) with DataType.DOUBLE");
            }
            if (leaf instanceof Parameter p) p.zeroGrad();
            else leaf.grad = null;
        }
        scalar(loss.get()).backward();
        double worst = 0;
        for (Tensor leaf : leaves) {
            if (leaf.grad() == null) throw new IllegalStateException("no gradient reached " + leaf
                    + ": is it used in the loss?");
            INDArray value = leaf.value().reshape(leaf.value().length());   // a view: values are c-order
            INDArray analytic = leaf.grad().reshape(value.length());
            double error = 0, scale = MIN_SCALE;
            for (long i = 0; i < value.length(); i++) {
                double keep = value.getDouble(i);
                value.putScalar(i, keep + STEP);
                double plus = scalar(loss.get()).value().getDouble(0);
                value.putScalar(i, keep - STEP);
                double minus = scalar(loss.get()).value().getDouble(0);
                value.putScalar(i, keep);
                double numeric = (plus - minus) / (2 * STEP);
                error = Math.max(error, Math.abs(numeric - analytic.getDouble(i)));
                scale = Math.max(scale, Math.abs(numeric));
            }
            worst = Math.max(worst, error / scale);
        }
        return worst;
    }

    private static Tensor scalar(Tensor loss) {
        if (loss.value().length() != 1) {
            throw new IllegalArgumentException("the loss must be a scalar, but has shape "
                    + Arrays.toString(loss.shape()));
        }
        return loss;
    }
}
