package quill.train;

import quill.random.TorchGenerator;
import quill.model.Gpt;
import quill.model.GptHooks;

import java.util.ArrayList;
import java.util.List;

/**
 * What {@link Trainer}'s loop changes as a run goes on: nanoGPT's {@code iter_num} and {@code best_val_loss}, the
 * batches, the timers, and the record of the run so far; and what the run holds open until it ends (the worker
 * threads, the metrics file). {@link #checkpoint} is the part of it a checkpoint keeps.
 */
final class RunState {
    /** Draws every batch, training and eval, in nanoGPT's order ({@code torch.manual_seed(seed)}'s generator). */
    final TorchGenerator rng;
    /** The training batches, one drawn ahead ({@code X, Y = get_batch('train')}). */
    final BatchStream batches;
    /** The worker threads that share each batch; closed, with the log, when the run ends. */
    final DataParallel workers;
    /** Where every step and eval is written ({@code metrics.jsonl}). */
    final MetricsLog metrics;
    /** The steps and evals so far (a resumed run's earlier ones included), for the loss plot and the NaN detective. */
    final List<MetricsLog.Step> steps = new ArrayList<>();
    final List<MetricsLog.Eval> evals = new ArrayList<>();

    /** The next iteration to run: optimizer steps taken so far. */
    int iter;
    /** The iteration of the last eval (-1 before any): a resumed run does not evaluate the same iteration twice. */
    int lastEvalIter = -1;
    /** The lowest val loss estimated so far. */
    double bestVal = Double.POSITIVE_INFINITY;
    /** The iteration whose state ckpt-last.zip holds (-1: none written by this process or the one it resumes). */
    int savedIter = -1;
    /** The iteration whose model this process wrote to ckpt-best.zip (-1: none). */
    int bestSavedIter = -1;

    /** The whole val split's loss ({@link FullEval}) at iteration {@link #fullValIter}; null before any. */
    FullEval.Result fullVal;
    int fullValIter = -1;
    /** Whether the whole val split confirmed {@code target-val-loss}, and when (seconds since the process started). */
    boolean reached;
    double targetSeconds;

    /** A moving average of the step time (ms), and the last eval's seconds: the progress line's time left. */
    double emaMs;
    double evalSeconds;
    /** The evals' {@code elapsed_s}: this process's wall time, after what a resumed run had already spent. */
    private final long startNanos = System.nanoTime();
    private final double elapsedBefore;

    RunState(TorchGenerator rng, BatchStream batches, DataParallel workers, MetricsLog metrics,
             List<MetricsLog.Step> steps, List<MetricsLog.Eval> evals) {
        this.rng = rng;
        this.batches = batches;
        this.workers = workers;
        this.metrics = metrics;
        this.steps.addAll(steps);
        this.evals.addAll(evals);
        MetricsLog.Eval lastEval = evals.isEmpty() ? null : evals.get(evals.size() - 1);
        this.elapsedBefore = lastEval == null || lastEval.elapsedS() == null ? 0 : lastEval.elapsedS();
    }

    /** Continues where {@code saved} stopped: its iteration, best val loss, generator and the batch it drew ahead. */
    void resume(TrainingState saved, double bestValOnDisk) {
        iter = saved.iter();
        lastEvalIter = saved.lastEvalIter();
        bestVal = Math.min(saved.bestValLoss(), bestValOnDisk);
        savedIter = iter;
        rng.setState(saved.rngState());
        batches.resume(saved.nextBatch());
    }

    /** Seconds of training so far, the earlier processes' of a resumed run included. */
    double elapsedSeconds() {
        return elapsedBefore + (System.nanoTime() - startNanos) / 1e9;
    }

    /** Where the run stands, for a checkpoint: with it a resumed run continues exactly. */
    TrainingState checkpoint(Gpt model) {
        return new TrainingState(iter, lastEvalIter, bestVal, rng.state(), batches.ahead(),
                GptHooks.dropoutState(model));
    }
}
