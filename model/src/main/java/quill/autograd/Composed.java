package quill.autograd;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The network functions written the way a textbook writes them: every step of the formula is its own
 * small op of {@link Ops} on the tape, so a debugger or a notebook shows each intermediate (the mean, the
 * centred input, the variance...) and the tape derives every backward by itself.
 *
 * <p>These are the lesson. {@link Nn} computes the same functions as single fused ops with a hand-written
 * backward, which is what training runs because it is several times faster; the tests check that both give
 * the same values and gradients, and {@code Gpt.setReadable(true)} makes a model use these instead.
 */
public final class Composed {
    private Composed() {
    }

    /** {@code (x - mean) / sqrt(var + eps) * weight + bias} over the last axis (PyTorch's biased variance). */
    public static Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, double eps) {
        double c = x.size(x.rank() - 1);
        Tensor mean = Ops.scale(Ops.sumLastAxis(x), 1 / c);                    // (..., 1)
        Tensor xc = Ops.add(x, Ops.scale(mean, -1));                           // x - mean
        Tensor var = Ops.scale(Ops.sumLastAxis(Ops.mul(xc, xc)), 1 / c);       // (..., 1) mean of (x - mean)^2
        Tensor rstd = Ops.pow(Ops.addScalar(var, eps), -0.5);                  // 1 / sqrt(var + eps)
        Tensor y = Ops.mul(Ops.mul(xc, rstd), weight);
        return bias == null ? y : Ops.add(y, bias);
    }

    /** GELU, PyTorch's exact form: {@code 0.5 x (1 + erf(x / sqrt 2))}. */
    public static Tensor gelu(Tensor x) {
        return Ops.mul(Ops.scale(x, 0.5), Ops.addScalar(Ops.erf(Ops.scale(x, 1 / Math.sqrt(2))), 1));
    }

    /** Softmax over the last axis: {@code exp(x - max) / sum exp(x - max)}. */
    public static Tensor softmax(Tensor x) {
        Tensor e = Ops.exp(minusRowMax(x));                                    // at most 1: exp cannot overflow
        return Ops.mul(e, Ops.pow(Ops.sumLastAxis(e), -1));
    }

    /** log softmax over the last axis: {@code (x - max) - log sum exp(x - max)}. */
    public static Tensor logSoftmax(Tensor x) {
        Tensor shifted = minusRowMax(x);
        return Ops.add(shifted, Ops.scale(Ops.log(Ops.sumLastAxis(Ops.exp(shifted))), -1));
    }

    /**
     * Mean cross-entropy of logits (B, T, V) against target ids (B, T), ignoring targets of -1: minus the
     * mean over the counted positions of the target's log-probability.
     */
    public static Tensor crossEntropy(Tensor logits, int[][] targets) {
        INDArray onehot = Nd4j.zeros(logits.dataType(), logits.shape());      // (B, T, V): 1 at each target
        int count = 0;
        for (int i = 0; i < targets.length; i++) {
            for (int j = 0; j < targets[i].length; j++) {
                if (targets[i][j] == -1) continue;
                onehot.putScalar(new long[]{i, j, targets[i][j]}, 1);
                count++;
            }
        }
        Tensor picked = Ops.mul(logSoftmax(logits), Tensor.constant(onehot));  // log p(target), 0 elsewhere
        return Ops.scale(Ops.sum(picked), -1.0 / count);
    }

    /**
     * x minus each row's largest value, which softmax does not change; the max is a constant on the tape,
     * since softmax's value, and so its gradient, do not depend on it.
     */
    private static Tensor minusRowMax(Tensor x) {
        return Ops.add(x, Tensor.constant(x.value().max(true, x.rank() - 1).negi()));
    }
}
