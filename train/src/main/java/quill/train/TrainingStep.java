package quill.train;

import quill.runtime.Parallel;
import quill.autograd.Parameter;
import quill.optim.AdamW;
import quill.optim.Optimizer;

import java.util.List;

/**
 * One optimizer step of nanoGPT's train.py: {@code gradientAccumulationSteps} micro-batches of forward and
 * backward (each adding 1/steps of its gradient, its rows shared among the {@link DataParallel} workers),
 * clipping of the global gradient norm, an AdamW update and zeroed gradients. {@link Trainer} runs it in its loop
 * and {@code quill bench} times it, so what is benchmarked is exactly what trains.
 */
public final class TrainingStep {

    /** Fills one micro-batch: inputs x and targets y, both (batchSize, blockSize). */
    @FunctionalInterface
    public interface Batches {
        void next(int[][] x, int[][] y);
    }

    /**
     * What a step did: the mean loss over its micro-batches, the global gradient norm before clipping (also
     * measured when clipping is off), whether clipping scaled the gradient down, and whether the weights were
     * updated (not when the loss or the norm is NaN or infinite).
     */
    public record Result(double loss, double gradNorm, boolean clipped, boolean updated) {
    }

    private final DataParallel workers;
    private final Optimizer optimizer;
    private final List<Parameter> params;
    private final int accumulationSteps;
    private final double gradClip;
    private final int[][] x;
    private final int[][] y;

    /** Steps for {@code workers}' model, whose parameters {@code optimizer} updates. */
    public TrainingStep(DataParallel workers, Optimizer optimizer, TrainConfig config) {
        this.workers = workers;
        this.optimizer = optimizer;
        this.params = List.copyOf(workers.model().trainable().values());   // frozen weights have no gradient
        this.accumulationSteps = config.gradientAccumulationSteps();
        this.gradClip = config.gradClip();
        this.x = new int[config.batchSize()][config.blockSize()];
        this.y = new int[config.batchSize()][config.blockSize()];
    }

    /** One step at learning rate {@code lr}; when it returns not {@code updated}, the weights are as before. */
    public Result run(Batches batches, double lr) {
        return run(batches, lr, null);
    }

    /**
     * As {@link #run(Batches, double)}, and when {@code health} is not null it looks at the step: the activations
     * of the first micro-batch, the gradients before clipping, the weights before and after the update. It reads
     * and never writes, so the step computes the same numbers with or without it.
     */
    public Result run(Batches batches, double lr, HealthStats health) {
        double loss = 0;
        for (int micro = 0; micro < accumulationSteps; micro++) {
            batches.next(x, y);
            if (health != null && micro == 0) health.watchForward();
            try {
                loss += workers.forwardBackward(x, y, 1.0 / accumulationSteps);
            } finally {
                if (health != null && micro == 0) health.stopWatching();
            }
        }
        double meanLoss = loss / accumulationSteps;
        if (health != null) health.beforeUpdate(params);
        // the workers are idle until the next step: clipping and AdamW may use every one of their cores
        // without clipping, an infinite bound measures the norm and leaves the gradient alone
        double norm = Parallel.withThreads(workers.workers(),
                () -> AdamW.clipGradNorm(params, gradClip > 0 ? gradClip : Double.POSITIVE_INFINITY));
        boolean clipped = gradClip > 0 && gradClip / (norm + 1e-6) < 1;        // as clipGradNorm decides
        if (!Double.isFinite(meanLoss) || !Double.isFinite(norm)) return new Result(meanLoss, norm, clipped, false);
        Parallel.withThreads(workers.workers(), () -> optimizer.step(lr));
        if (health != null) health.afterUpdate(params, workers.model());
        for (Parameter p : params) p.zeroGrad();
        return new Result(meanLoss, norm, clipped, true);
    }
}
