package quill.train;

import org.nd4j.linalg.api.ndarray.INDArray;
import quill.kernels.Elements;
import quill.autograd.Parameter;
import quill.autograd.TapeWatch;
import quill.autograd.Tensor;
import quill.model.GptHooks;

import java.util.List;
import java.util.Locale;

/**
 * Finds where a step's NaN or infinity started. When a step's loss or gradient norm is not finite, the weights
 * are still those before the step ({@link TrainingStep} does not apply it), so the step can be replayed exactly:
 * the same micro-batches, the same dropout state, the same workers. The replay runs with a {@link TapeWatch} that
 * checks every op's result in the forward pass and every gradient a backward closure writes, and keeps the first
 * op (in the order the ops ran) that made a non-finite value out of finite ones, and the layer it belongs to.
 * Only a failed step pays for this: the normal step path has no check.
 */
final class NanDetective implements TapeWatch.Listener {
    /** Where the first non-finite value appeared: "forward" or "backward", the layer, the op, and NaN or infinity. */
    record Finding(String pass, String module, String op, String what) {
        @Override
        public String toString() {
            return Character.toUpperCase(what.charAt(0)) + what.substring(1) + " first appeared in the " + pass + " of "
                    + (module.isEmpty() ? "" : module + " ") + op;
        }
    }

    private Finding first;
    /** Where {@link #first} was found in its thread's sequence of ops; the earliest across threads wins. */
    private volatile long firstAt = Long.MAX_VALUE;
    private int firstWorker = Integer.MAX_VALUE;
    private final ThreadLocal<long[]> ops = ThreadLocal.withInitial(() -> new long[1]);

    /**
     * Replays the failed step on {@code workers} from the weights it started with: {@code micro} holds its
     * micro-batches (inputs and targets), {@code dropoutState} the model's dropout state before it. Leaves the
     * model's gradients zero. Null when no op made a non-finite value (the norm's sum overflowed, say).
     */
    static Finding replay(DataParallel workers, List<int[][][]> micro, long dropoutState) {
        List<Parameter> params = List.copyOf(workers.model().parameters().values());
        for (Parameter p : params) {
            String bad = nonFinite(p.value());
            if (bad != null) return new Finding("weights", "", p.name(), bad);
        }
        NanDetective detective = new NanDetective();
        for (Parameter p : params) p.zeroGrad();
        GptHooks.setDropoutState(workers.model(), dropoutState);
        TapeWatch.start(detective, null);                        // every worker's thread
        try {
            for (int[][][] xy : micro) workers.forwardBackward(xy[0], xy[1], 1.0 / micro.size());
        } finally {
            TapeWatch.stop();
            for (Parameter p : params) p.zeroGrad();
        }
        return detective.first;
    }

    @Override
    public void forward(String module, Tensor out, Tensor[] inputs) {
        long at = ops.get()[0]++;
        if (at >= firstAt) return;
        String bad = nonFinite(out.value());
        if (bad != null) found(at, new Finding("forward", module, out.opName(), bad));
    }

    @Override
    public void backward(String module, Tensor out, Tensor[] inputs) {
        long at = ops.get()[0]++;
        if (at >= firstAt) return;
        for (Tensor in : inputs) {
            String bad = in.grad() == null ? null : nonFinite(in.grad());
            if (bad != null) {
                found(at, new Finding("backward", module, out.opName(), bad));
                return;
            }
        }
    }

    /**
     * The workers run the same ops side by side on their own rows: the finding earliest in the sequence of ops is
     * kept (not the first in time, which would depend on the threads' timing); a tie goes to the lower worker.
     */
    private synchronized void found(long at, Finding f) {
        int worker = worker();
        if (at < firstAt || (at == firstAt && worker < firstWorker)) {
            first = f;
            firstAt = at;
            firstWorker = worker;
        }
    }

    /** Worker 0 runs on the trainer's thread; worker k on "quill-worker-k". */
    private static int worker() {
        String name = Thread.currentThread().getName();
        return name.startsWith("quill-worker-") ? Integer.parseInt(name.substring("quill-worker-".length())) : 0;
    }

    /** "NaN" or "an infinite value" when {@code a} holds one (NaN first), else null. */
    static String nonFinite(INDArray a) {
        Elements e = new Elements(Elements.contiguousCopy(a));
        double[] block = new double[Elements.BLOCK];
        boolean inf = false;
        for (int from = 0; from < e.length(); from += Elements.BLOCK) {
            int n = Math.min(Elements.BLOCK, e.length() - from);
            e.get(from, block, n);
            for (int k = 0; k < n; k++) {
                if (Double.isNaN(block[k])) return "NaN";
                if (Double.isInfinite(block[k])) inf = true;
            }
        }
        return inf ? "an infinite value" : null;
    }

    /**
     * The sentence for the error message: where it started, the gradient norms of the last steps, and what to
     * try. {@code norms}: the steps' gradient norms before the failed one, oldest first.
     */
    static String explain(Finding f, int iter, double failedNorm, List<Double> norms, TrainConfig c, double lr) {
        StringBuilder sb = new StringBuilder();
        sb.append(f == null ? "replaying the step found no op that made a non-finite value (the gradient norm's sum"
                + " overflowed)" : f + " at iteration " + iter).append(". ");
        if (!norms.isEmpty()) {
            sb.append("Gradient norm over the last ").append(norms.size() + 1).append(" steps:");
            for (double n : norms) sb.append(String.format(Locale.ROOT, " %.3g", n));
            sb.append(String.format(Locale.ROOT, " %.3g. ", failedNorm));
        }
        sb.append(suggestion(f, iter, norms, c, lr));
        return sb.toString();
    }

    /** A concrete remedy, from where it happened and how the gradient norm behaved before. */
    private static String suggestion(Finding f, int iter, List<Double> norms, TrainConfig c, double lr) {
        String lower = String.format(Locale.ROOT, "--learning-rate %.2g (a third of %.2g)", c.learningRate() / 3,
                c.learningRate());
        if (f != null && f.pass().equals("weights")) {
            return "The weights were already broken before this step: check what changed them.";
        }
        if (iter == 0) {
            return "It failed at the very first step, before any update: the initial weights or the data are the"
                    + " cause; check the initialisation's scale.";
        }
        boolean growing = norms.size() >= 2 && norms.get(norms.size() - 1) > 10 * norms.get(0);
        StringBuilder s = new StringBuilder("Try ").append(lower);
        if (c.gradClip() == 0) s.append(", and turn gradient clipping on (--grad-clip 1.0)");
        if (iter < c.warmupIters() || c.warmupIters() == 0) {
            s.append(String.format(Locale.ROOT, ", or a longer warm-up (--warmup-iters %d; it failed at iteration %d"
                    + " with the learning rate at %.3g)", Math.max(100, 2 * c.warmupIters()), iter, lr));
        }
        s.append(growing ? ": the gradient norm grew tenfold before it broke, the sign of a step too large." : ".");
        return s.toString();
    }
}
