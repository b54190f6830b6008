package quill.train;

import quill.checkpoint.AtomicFiles;
import quill.checkpoint.Checkpoint;
import quill.checkpoint.CheckpointWriter;
import quill.data.PreparedData;
import quill.data.TokenFile;
import quill.plot.LossPlot;
import quill.sample.Sampler;

import quill.autograd.Parameter;
import quill.random.TorchGenerator;
import quill.optim.Optimizer;
import quill.model.Gpt;
import quill.model.GptHooks;
import quill.model.GptConfig;
import quill.tokenizer.StreamingDecoder;
import quill.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

/**
 * The training loop: nanoGPT's train.py for one process. Each iteration takes
 * {@code gradientAccumulationSteps} random batches, adds up their gradients, clips the global
 * gradient norm, takes one AdamW step at the scheduled learning rate and zeroes the gradients.
 * Every {@code evalInterval} iterations (and at the first and last) it estimates train and val loss
 * in eval mode and checkpoints when val loss improves. {@link #loop} is those steps in train.py's order, one line
 * each; what it changes from one iteration to the next is in {@link RunState}.
 *
 * <p>The initial weights, then every batch (training and eval, in nanoGPT's order) come from one
 * {@link TorchGenerator} seeded with {@code seed}, as nanoGPT's all come from {@code torch.manual_seed(seed)}:
 * with the same seed and settings, a Quill run and a nanoGPT run see the same numbers. Dropout has a
 * generator of its own. Both generators' states are checkpointed, so a resumed run continues exactly where
 * the interrupted one stopped.
 *
 * <p>With {@code targetValLoss} (a speedrun), an eval whose estimate is at or below the target is checked on the
 * whole val split ({@link FullEval}): if that confirms it, the model is checkpointed, the seconds since the process
 * started are reported and the run ends; if not, training goes on to the next eval. At {@code maxIters} the
 * closing whole-split loss decides in the same way.
 */
public final class Trainer {

    /** How a run ended. */
    public enum Outcome {
        /** All {@code maxIters} iterations done. */
        FINISHED,
        /** The val loss reached {@code targetValLoss} (confirmed on the whole val split): the run ended there. */
        TARGET_REACHED,
        /** {@link #requestStop()} was called (Ctrl-C); the last checkpoint holds where it stopped. */
        STOPPED
    }

    /** The loss or gradient became NaN or infinite; the checkpoints on disk are from before. */
    public static final class DivergedException extends RuntimeException {
        DivergedException(String message) {
            super(message);
        }
    }

    /** AdamW's epsilon, PyTorch's default (nanoGPT does not set it). */
    public static final double ADAM_EPS = 1e-8;

    private final TrainConfig config;
    private final PreparedData data;
    private final PrintWriter out;
    private final boolean terminal;
    private final Path outDir;
    private volatile boolean stopRequested;
    private final CountDownLatch finished = new CountDownLatch(1);
    private IntConsumer afterStep = iter -> { };
    private Consumer<Gpt> initTransform = m -> { };
    private int sampleChars = 200;
    private int threads;
    private boolean allowDataChange;
    /** The checkpoint this run started from ({@code --init-from}), or null: from scratch. */
    private FineTune initFrom;
    /** Writes the checkpoints (tests give one that fails part-way, as a kill would). */
    CheckpointWriter writer = new CheckpointWriter();
    /** The model being trained, once {@link #run} has made it (tests poison it to check NaN handling). */
    Gpt model;

    /**
     * @param terminal whether {@code out} is a terminal (a progress line rewritten in place) or a log
     */
    public Trainer(TrainConfig config, PreparedData data, PrintWriter out, boolean terminal) {
        this.config = config;
        this.data = data;
        this.out = out;
        this.terminal = terminal;
        this.outDir = Path.of(config.outDir());
        this.threads = DataParallel.defaultWorkers(config.batchSize());
    }

    /** How many worker threads share each batch ({@link DataParallel}); the default is one per core. */
    public void threads(int workers) {
        if (workers < 1) throw new IllegalArgumentException("threads must be at least 1, got " + workers);
        this.threads = workers;
    }

    /** Whether a resumed run may use a dataset whose text changed since its checkpoint ({@link #checkSameData}). */
    public void allowDataChange(boolean allow) {
        this.allowDataChange = allow;
    }

    /**
     * Starts the run from {@code base}'s weights instead of fresh ones (a new run: the model shape, architecture and
     * vocabulary's ids must be the base's, see {@link FineTune#settings}); with LoRA settings, adapters on it.
     */
    public void initFrom(FineTune base) {
        this.initFrom = base;
    }

    /** Called with the iteration number after each optimizer step (for tests and tools). */
    public void afterStep(IntConsumer listener) {
        this.afterStep = listener;
    }

    /**
     * Called with a new run's freshly initialised model before its first step (not on resume): notebook 07 scales
     * the initial weights with it to show what a bad initialisation looks like.
     */
    public void initTransform(Consumer<Gpt> transform) {
        this.initTransform = transform;
    }

    /** How many tokens the closing sample has (0 for none). */
    public void sampleLength(int tokens) {
        this.sampleChars = tokens;
    }

    /** Asks the loop to save a checkpoint and return at the start of its next iteration (thread-safe). */
    public void requestStop() {
        stopRequested = true;
    }

    /** Waits until {@link #run} has returned (a shutdown hook waits for the checkpoint to be saved). */
    public boolean awaitFinished(long timeout, TimeUnit unit) throws InterruptedException {
        return finished.await(timeout, unit);
    }

    /**
     * Trains from scratch, or from {@code resumeFrom} (a checkpoint whose model shape matches the
     * configuration; see {@link #checkResumable}).
     */
    public Outcome run(Checkpoint resumeFrom) throws IOException {
        try {
            return loop(resumeFrom);
        } finally {
            finished.countDown();
        }
    }

    // The run's tools, made once by start(); the loop does not change them (what it changes is in RunState).
    private TokenFile train;
    private TokenFile val;
    private Optimizer optimizer;
    private LearningRateSchedule schedule;
    private TrainingStep step;
    private ProgressLine progress;
    private FullEval fullEval;

    /**
     * The loop of nanoGPT's {@code train.py} ({@code while True:}, its lines 255-330), one pass per iteration, in its
     * order; the methods it calls hold the bookkeeping (checkpoints, metrics.jsonl, the console lines).
     */
    private Outcome loop(Checkpoint resumeFrom) throws IOException {
        RunState s = start(resumeFrom);        // the model and optimizer, the first batch drawn; or a checkpoint's
        try (s.metrics; s.workers) {           // closed however the run ends
            while (true) {
                if (stopRequested) return stop(s);                 // Ctrl-C: save where the run stands, return

                // the learning rate of this iteration: linear warm-up, then cosine decay to min-lr
                double lr = schedule.at(s.iter);

                // every eval-interval iterations (and at max-iters): estimate train and val loss, checkpoint
                if (evalDue(s) && evaluate(s)) break;              // true: the val loss reached --target-val-loss

                // termination: after the eval at max-iters (nanoGPT takes one more step there, then stops)
                if (s.iter >= config.maxIters()) break;

                // forward and backward over each micro-batch, clip the gradient, update, zero the gradients
                HealthStats health = healthDue(s) ? new HealthStats() : null;   // watch this step, for quill report
                long t0 = System.nanoTime();
                TrainingStep.Result r = step(s, lr, health);
                double ms = (System.nanoTime() - t0) / 1e6;

                // timing and logging: metrics.jsonl and the progress line
                log(s, r, lr, ms, health);
                s.iter++;
                afterStep.accept(s.iter - 1);
            }
            finish(s);                         // the last checkpoint, the whole val split, the target's check
        }
        return report(s, resumeFrom != null);  // the closing lines and a sample
    }

    /**
     * Everything before nanoGPT's loop: checks the settings against the data, makes the model (the first draws of
     * the generator) and the optimizer, restores a checkpoint's weights, moments and state, and prints the model.
     */
    private RunState start(Checkpoint resumeFrom) throws IOException {
        TrainConfig c = config;
        train = TokenFile.open(data.trainBin());
        val = TokenFile.open(data.valBin());
        for (TokenFile f : List.of(train, val)) {
            if (f.size() <= c.blockSize()) {
                throw new IllegalArgumentException("block-size " + c.blockSize() + " is longer than the data: "
                        + f.path() + " holds " + f.size() + " tokens; use a --block-size below " + f.size());
            }
        }
        Tokenizer tokenizer = data.tokenizer();
        GptConfig shape = modelConfig(c, tokenizer.vocabSize());
        MemoryEstimate.check(shape, c.batchSize(), threads);
        if (resumeFrom != null) {
            checkResumable(resumeFrom, c, tokenizer);
            if (!checkSameData(resumeFrom, data, allowDataChange)) {
                out.println("note: dataset " + c.dataset() + " changed since " + resumeFrom.file()
                        + " (--allow-data-change): from here on, val losses are on another val set than before");
            }
        }
        prepareOutDir(); // only once the settings are accepted: a refused run changes nothing in the folder
        TorchGenerator rng = new TorchGenerator(c.seed());                // torch.manual_seed(seed)
        model = Gpt.drawnFrom(shape,
                rng);                                        // the initial weights: the first draws
        if (resumeFrom == null) initTransform.accept(model);
        if (resumeFrom != null) initFrom = FineTune.baseOf(resumeFrom);   // a LoRA run resumes on its base's weights
        if (initFrom != null) {
            initFrom.initialize(model);
            if (c.lora() != null) FineTune.adapt(model, c.lora(), initFrom.base().modelConfig().vocabSize(), rng);
        }
        optimizer = c.newOptimizer(model.trainable());
        schedule = LearningRateSchedule.of(c);

        // the record of the run so far: a resumed run keeps what its metrics.jsonl has up to the checkpoint
        Path metricsFile = outDir.resolve("metrics.jsonl");
        TrainingState saved = resumeFrom == null ? null : resumeFrom.state();
        MetricsLog metrics;
        List<MetricsLog.Step> steps = new ArrayList<>();
        List<MetricsLog.Eval> evals = new ArrayList<>();
        if (saved != null) {
            resumeFrom.loadWeights(model);
            resumeFrom.loadOptimizer(optimizer);
            GptHooks.setDropoutState(model, saved.dropoutState());
            metrics = MetricsLog.resume(metricsFile, saved.iter(), saved.lastEvalIter());
            MetricsLog.read(metricsFile, steps, evals);
        } else {
            metrics = MetricsLog.create(metricsFile);
        }

        BatchStream batches = new BatchStream(train, rng, c.batchSize(), c.blockSize()); // X, Y = get_batch('train')
        DataParallel workers = new DataParallel(model, threads);         // the threads that share each batch
        RunState s = new RunState(rng, batches, workers, metrics, steps, evals);
        if (saved != null) {
            s.resume(saved, bestOnDisk());                                // the generator, the batch drawn ahead
            out.printf(Locale.ROOT, "resuming from %s at iteration %d (best val loss %.4f)%n", resumeFrom.file(),
                    s.iter, s.bestVal);
        }
        printModel(shape, resumeFrom != null);

        step = new TrainingStep(workers, optimizer, c);
        progress = new ProgressLine(out, terminal, c.logInterval());
        fullEval = new FullEval(data.readVal(), tokenizer);
        model.setTraining(true);
        return s;
    }

    /** The model's shape and size; with LoRA, what trains; with --init-from, where the weights come from. */
    private void printModel(GptConfig shape, boolean resumed) {
        TrainConfig c = config;
        long all = countParameters(model.parameters().values());
        out.printf(Locale.ROOT, "model: %s, %.2fM parameters; %d tokens per iteration, shared by %d worker thread%s%n",
                describe(shape), all / 1e6, c.tokensPerIter(), threads, threads == 1 ? "" : "s");
        if (model.lora() != null) {
            long trainable = countParameters(model.trainable().values());
            long adapters = countParameters(model.adapters().values());
            out.printf(Locale.ROOT, "LoRA rank %d, alpha %s on %s: %,d trainable parameters (%.2f%% of the model's):"
                    + " %,d in adapters%s; the rest frozen%n", c.loraRank(), c.loraAlpha(), c.loraTargets(), trainable,
                    100.0 * trainable / all, adapters, trainable == adapters ? ""
                            : ", the others the token embedding, whose new ids' rows must learn");
        } else if (initFrom != null && !resumed) {
            out.println("starting from " + initFrom.file() + " (iteration " + initFrom.base().state().iter()
                    + " of its run): every weight trains");
        }
    }

    /** Ctrl-C ({@link #requestStop}): the state is saved to ckpt-last.zip, unless it holds this iteration already. */
    private Outcome stop(RunState s) throws IOException {
        progress.clear();
        Path last = Checkpoint.last(outDir);
        if (s.savedIter != s.iter) save(last, s);
        out.printf("stopped at iteration %d; saved %s. Continue with: quill train --resume --out-dir %s%n",
                s.iter, last, outDir);
        return Outcome.STOPPED;
    }

    /** nanoGPT evaluates every eval-interval iterations; Quill also at max-iters, and never twice at one iteration. */
    private boolean evalDue(RunState s) {
        return (s.iter % config.evalInterval() == 0 || s.iter == config.maxIters()) && s.iter != s.lastEvalIter;
    }

    /** Every health-interval iterations the step is watched ({@link HealthStats}); 0 turns it off. */
    private boolean healthDue(RunState s) {
        return config.healthInterval() > 0 && s.iter % config.healthInterval() == 0;
    }

    /**
     * nanoGPT's {@code estimate_loss()} on train and val, then its line and checkpoint. The eval is written to
     * metrics.jsonl and the loss plot; an estimate at or below {@code target-val-loss} is checked on the whole val
     * split. Returns whether that confirmed the target (the run ends there).
     */
    private boolean evaluate(RunState s) throws IOException {
        long t0 = System.nanoTime();
        model.setTraining(false);                                        // no dropout while estimating
        double trainLoss = estimateLoss(s, train);
        double valLoss = estimateLoss(s, val);
        model.setTraining(true);
        if (!Double.isFinite(trainLoss) || !Double.isFinite(valLoss)) {
            progress.clear();
            throw diverged(String.format(Locale.ROOT, "the %s became %s in the eval at iteration %d",
                    Double.isFinite(trainLoss) ? "val loss" : "train loss",
                    Double.isFinite(trainLoss) ? valLoss : trainLoss, s.iter), Checkpoint.last(outDir));
        }
        s.lastEvalIter = s.iter;
        MetricsLog.Eval e = new MetricsLog.Eval(s.iter, trainLoss, valLoss, s.elapsedSeconds());
        s.evals.add(e);
        s.metrics.eval(e);
        s.metrics.flush();
        boolean improved = valLoss < s.bestVal;
        if (improved) s.bestVal = valLoss;
        if (s.iter > 0 && config.targetValLoss() > 0 && valLoss <= config.targetValLoss()) confirmTarget(s);
        String saved = checkpoint(s, improved);
        progress.println(String.format(Locale.ROOT, "eval %d: train loss %.4f, val loss %.4f%s%s", s.iter, trainLoss,
                valLoss, improved && s.iter > 0 ? " (best so far)" : "", saved.isEmpty() ? "" : "; " + saved));
        if (s.fullValIter == s.iter) {
            s.metrics.fullEval(s.iter, s.fullVal);
            if (s.reached) return true;
            progress.println(String.format(Locale.ROOT, "  whole val split: loss %.4f, above the target %.4f%s",
                    s.fullVal.loss(), config.targetValLoss(), s.iter < config.maxIters() ? ": training on" : ""));
        }
        LossPlot.draw(outDir.resolve("loss.png"), s.steps, s.evals, title());
        s.evalSeconds = (System.nanoTime() - t0) / 1e9;
        return false;
    }

    /** --target-val-loss: an estimate that reaches the target is confirmed on the whole val split. */
    private void confirmTarget(RunState s) {
        s.fullVal = fullEval.run(s.workers);
        s.fullValIter = s.iter;
        s.reached = s.fullVal.loss() <= config.targetValLoss();
    }

    /**
     * After an eval (not the first): ckpt-best.zip and ckpt-last.zip when val loss improved or the target is reached,
     * ckpt-last.zip alone with always-save-checkpoint. Returns what it saved, for the eval's line ("" for nothing).
     */
    private String checkpoint(RunState s, boolean improved) throws IOException {
        if (s.iter == 0 || !(improved || s.reached || config.alwaysSaveCheckpoint())) return "";
        Path last = Checkpoint.last(outDir);
        Path best = Checkpoint.best(outDir);
        if (improved || s.reached) {   // the model that met the target is the one to keep
            // best first: a kill between the two leaves ckpt-last.zip at the older state, which
            // names a best val loss that ckpt-best.zip matches or beats, never one it lacks
            save(best, s);
            writer.copy(best, last);
            s.bestSavedIter = s.iter;
        } else {
            save(last, s);
        }
        s.savedIter = s.iter;
        return "saved " + last.getFileName() + (improved ? " and " + best.getFileName() : "");
    }

    /**
     * One optimizer step ({@link TrainingStep}: forward and backward over each micro-batch, its rows shared by the
     * {@link DataParallel} workers; clipping; the optimizer's update; zeroed gradients). A step whose loss or
     * gradient is not finite leaves the weights alone and ends the run with the NaN detective's finding.
     */
    private TrainingStep.Result step(RunState s, double lr, HealthStats health) {
        long dropoutBefore = GptHooks.dropoutState(model);                  // with the starts: what a replay needs
        List<int[]> starts = new ArrayList<>(config.gradientAccumulationSteps());
        TrainingStep.Result r = step.run((x, y) -> starts.add(s.batches.next(x, y)), lr, health);
        if (!r.updated()) {
            progress.clear();
            double loss = r.loss();
            String what = String.format(Locale.ROOT, "the %s became %s at iteration %d (learning rate %.3g)",
                    Double.isFinite(loss) ? "gradient norm" : "loss", Double.isFinite(loss) ? r.gradNorm() : loss,
                    s.iter, lr);
            String where = investigate(s.workers, starts, dropoutBefore, s.iter, r.gradNorm(), s.steps, lr);
            throw diverged(what, Checkpoint.last(outDir), where);
        }
        return r;
    }

    /** The step's line in metrics.jsonl (and its health statistics), and the progress line with the time left. */
    private void log(RunState s, TrainingStep.Result r, double lr, double ms, HealthStats health) throws IOException {
        TrainConfig c = config;
        MetricsLog.Step line = new MetricsLog.Step(s.iter, r.loss(), lr, ms, c.tokensPerIter() / (ms / 1000),
                r.gradNorm(), r.clipped());
        s.steps.add(line);
        s.metrics.step(line);
        if (health != null) s.metrics.health(health.toJson(s.iter));
        s.emaMs = s.emaMs == 0 ? ms : 0.9 * s.emaMs + 0.1 * ms;
        int left = c.maxIters() - s.iter - 1;
        double secondsLeft = left * s.emaMs / 1000 + s.evalSeconds * (left / c.evalInterval() + 1);
        if (progress.step(s.iter, c.maxIters(), r.loss(), s.emaMs, c.tokensPerIter() / (s.emaMs / 1000), secondsLeft)) {
            s.metrics.flush();
        }
    }

    /**
     * After the last iteration: ckpt-last.zip, unless it holds this iteration already; the final model's loss on
     * the whole val split, which at max-iters decides the target too; the time to the target.
     */
    private void finish(RunState s) throws IOException {
        Path last = Checkpoint.last(outDir);
        if (s.savedIter != s.iter) save(last, s);
        if (s.fullValIter != s.iter) {
            s.fullVal = fullEval.run(s.workers);                          // the final model, every val token once
            s.metrics.fullEval(s.iter, s.fullVal);
            if (config.targetValLoss() > 0 && s.fullVal.loss() <= config.targetValLoss()) {
                s.reached = true;                                       // at max-iters, on the whole split
                if (s.bestSavedIter != s.iter) writer.copy(last, Checkpoint.best(outDir));
            }
        }
        if (s.reached) {
            s.targetSeconds = secondsSinceLaunch();   // the checkpoint that met the target is on disk
            s.metrics.target(s.iter, config.targetValLoss(), s.targetSeconds);
        }
    }

    /** The closing lines: the whole val split's loss, the target's verdict, where the files are, and a sample. */
    private Outcome report(RunState s, boolean resumed) throws IOException {
        progress.clear();
        FullEval.Result fullVal = s.fullVal;
        out.printf(Locale.ROOT, "full val split (%,d tokens, every one predicted once): loss %.4f, %.4f bits/char,"
                + " in %.1f s%n", fullVal.predictions(), fullVal.loss(), fullVal.bitsPerChar(), fullVal.seconds());
        if (config.targetValLoss() > 0) reportTarget(s.reached, s.iter, fullVal, s.targetSeconds, resumed);
        if (s.reached) LossPlot.draw(outDir.resolve("loss.png"), s.steps, s.evals, title());   // with the last eval
        out.printf(Locale.ROOT, "done: %d iterations, best val loss %.4f. Checkpoints, metrics.jsonl and loss.png are"
                + " in %s%n", s.iter, s.bestVal, outDir);
        if (s.reached) {   // a speedrun ends here: the closing sample would only add to its time
            out.println("see what it writes: quill sample --out-dir " + outDir);
            return Outcome.TARGET_REACHED;
        }
        if (sampleChars > 0) sample(data.tokenizer());
        return Outcome.FINISHED;
    }

    /**
     * Seconds since this process started (the operating system's start time of the process: the JVM's own start-up
     * included), for the time to a target; the JVM's start time where the system does not tell it.
     */
    static double secondsSinceLaunch() {
        long start = ProcessHandle.current().info().startInstant().map(java.time.Instant::toEpochMilli)
                .orElse(java.lang.management.ManagementFactory.getRuntimeMXBean().getStartTime());
        return (System.currentTimeMillis() - start) / 1000.0;
    }

    /** The line that says whether, and when, the run reached {@code --target-val-loss}. */
    private void reportTarget(boolean reached, int iter, FullEval.Result fullVal, double seconds, boolean resumed) {
        double target = config.targetValLoss();
        if (reached) {
            out.printf(Locale.ROOT, "target val loss %.4f reached at iteration %d: %.4f on the whole val split; %.1f s"
                            + " since the process started%s (the checkpoint is written)%n", target, iter,
                    fullVal.loss(), seconds,
                    resumed ? " (a resumed run: the earlier processes' time is not counted)" : "");
        } else {
            out.printf(Locale.ROOT, "target val loss %.4f not reached in %d iterations: %.4f on the whole val split%n",
                    target, iter, fullVal.loss());
        }
    }

    /** Writes a checkpoint: the model, the optimizer's moments, where the run stands ({@link RunState#checkpoint}). */
    private void save(Path file, RunState s) throws IOException {
        writer.write(file, config, data.tokenizer(), s.checkpoint(model), model, optimizer, data.sourceSha256(),
                initFrom);
    }

    private static DivergedException diverged(String what, Path last) {
        return diverged(what, last, "Try a lower --learning-rate or a --grad-clip.");
    }

    private static DivergedException diverged(String what, Path last, String advice) {
        return new DivergedException(what + ": training diverged and stopped. "
                + (Files.isRegularFile(last) ? "The last good checkpoint is kept: " + last + "."
                        : "No checkpoint was written.")
                + " " + advice);
    }

    /**
     * The NaN detective ({@link NanDetective}): replays the failed step at {@code iter}, from its micro-batches'
     * {@code starts} and the dropout state before it, and says where the first non-finite value appeared.
     */
    private String investigate(DataParallel workers, List<int[]> starts, long dropoutState, int iter, double norm,
                               List<MetricsLog.Step> steps, double lr) {
        List<int[][][]> micro = new ArrayList<>();
        for (int[] s : starts) {
            int[][][] xy = new int[2][config.batchSize()][config.blockSize()];
            train.fill(s, xy[0], xy[1]);
            micro.add(xy);
        }
        List<Double> norms = new ArrayList<>();
        for (int i = Math.max(0, steps.size() - 5); i < steps.size(); i++) {
            if (steps.get(i).gradNorm() != null) norms.add(steps.get(i).gradNorm());
        }
        try {
            NanDetective.Finding f = NanDetective.replay(workers, micro, dropoutState);
            return NanDetective.explain(f, iter, norm, norms, config, lr);
        } catch (RuntimeException e) {
            return "Replaying the step to find where it started failed (" + e.getMessage() + "). Try a lower"
                    + " --learning-rate or a --grad-clip.";
        }
    }

    /** The val loss of ckpt-best.zip, which a kill may have left ahead of ckpt-last.zip's record (infinite if none). */
    private double bestOnDisk() {
        Path best = Checkpoint.best(outDir);
        if (!Files.isRegularFile(best)) return Double.POSITIVE_INFINITY;
        try {
            return Checkpoint.load(best).state().bestValLoss();
        } catch (IOException e) {
            return Double.POSITIVE_INFINITY; // damaged: the next improvement replaces it
        }
    }

    /**
     * Mean loss over {@code evalIters} random batches, nanoGPT's {@code estimate_loss}. The batches are drawn
     * first, in order, then shared among the workers, so the estimate does not depend on the thread count.
     */
    private double estimateLoss(RunState s, TokenFile file) {
        List<int[][]> xs = new ArrayList<>();
        List<int[][]> ys = new ArrayList<>();
        for (int k = 0; k < config.evalIters(); k++) {
            int[][] x = new int[config.batchSize()][config.blockSize()];
            int[][] y = new int[config.batchSize()][config.blockSize()];
            file.sampleBatch(s.rng, x, y);
            xs.add(x);
            ys.add(y);
        }
        double sum = 0;
        for (double loss : s.workers.losses(xs, ys)) sum += loss;
        return sum / config.evalIters();
    }

    /** A short sample from the trained model, as a first taste (`quill sample` has all the controls). */
    private void sample(Tokenizer tokenizer) {
        int[] start;
        try {
            start = tokenizer.encode("\n");
        } catch (IllegalArgumentException e) {
            start = new int[]{0};
        }
        model.setTraining(false);
        out.println("sample (temperature 0.8, top-k 200):");
        out.println("----");
        Sampler sampler = new Sampler(0.8, 200, config.seed());
        StreamingDecoder text = new StreamingDecoder(tokenizer); // a BPE token may end inside a character
        sampler.generate(model, start, sampleChars, id -> {
            out.print(text.next(id));
            out.flush();
        });
        out.println(text.finish());
        out.println("----");
    }

    /** Fails with the setting to change when the checkpoint cannot continue under {@code c}. */
    public static void checkResumable(Checkpoint ckpt, TrainConfig c, Tokenizer tokenizer) {
        if (ckpt.quantization() != null) {
            throw new IllegalArgumentException("cannot resume from " + ckpt.file() + ": it is quantised ("
                    + ckpt.quantization().describe() + ") and holds no optimizer state; resume from the float"
                    + " checkpoint it was made from");
        }
        if (!ckpt.state().resumable()) {
            throw new IllegalArgumentException("cannot resume from " + ckpt.file() + ": an earlier Quill wrote it"
                    + " (checkpoint format 1), whose batches were drawn differently; start a new run in another"
                    + " --out-dir ('quill sample' still reads its weights)");
        }
        GptConfig saved = ckpt.modelConfig();
        String[][] pairs = {
                {"n-layer", "" + c.nLayer(), "" + saved.nLayer()},
                {"n-head", "" + c.nHead(), "" + saved.nHead()},
                {"n-embd", "" + c.nEmbd(), "" + saved.nEmbd()},
                {"block-size", "" + c.blockSize(), "" + saved.blockSize()},
                {"bias", "" + c.bias(), "" + saved.bias()},
                {"architecture", describe(c.architecture()), describe(saved.arch())},
                {"optimizer", quill.model.Architecture.name(c.optimizer()),
                        quill.model.Architecture.name(ckpt.config().optimizer())},
                // the adapters are part of the model: another rank, scale or set of layers is another model
                {"lora-rank", "" + c.loraRank(), "" + ckpt.config().loraRank()},
                {"lora-alpha", "" + c.loraAlpha(), "" + ckpt.config().loraAlpha()},
                {"lora-targets", c.loraTargets(), ckpt.config().loraTargets()},
        };
        for (String[] p : pairs) {
            if (!p[1].equals(p[2])) {
                String drop = p[0].equals("architecture") ? "the architecture flags" : "--" + p[0];
                throw new IllegalArgumentException("cannot resume from " + ckpt.file() + ": it has " + p[0] + " " + p[2]
                        + " but the settings say " + p[1] + "; drop " + drop
                        + " (or start a new run in another --out-dir)");
            }
        }
        if (!ckpt.tokenizer().toJson().equals(tokenizer.toJson())) {
            throw new IllegalArgumentException("cannot resume from " + ckpt.file() + ": its vocabulary differs from"
                    + " dataset " + c.dataset() + "'s; resume with the dataset it was trained on (--dataset "
                    + ckpt.config().dataset() + ")");
        }
    }

    /**
     * Whether {@code data} holds the text that the checkpoint trained on (by its sha256; a checkpoint that does not
     * record it passes). A change fails unless {@code allowChange}: losses on another val set do not compare.
     */
    public static boolean checkSameData(Checkpoint ckpt, PreparedData data, boolean allowChange) {
        String then = ckpt.sourceSha256();
        if (then == null || then.equals(data.sourceSha256())) return true;
        if (allowChange) return false;
        throw new IllegalArgumentException("cannot resume from " + ckpt.file() + ": the text of dataset "
                + ckpt.config().dataset() + " changed since it was trained on (source_sha256 " + then.substring(0, 12)
                + "... then, " + data.sourceSha256().substring(0, 12) + "... in " + data.metaJson() + " now), so its"
                + " val losses would not compare with the earlier ones; prepare the old text again, or continue on the"
                + " new one with --allow-data-change");
    }

    public static GptConfig modelConfig(TrainConfig c, int vocabSize) {
        return new GptConfig(vocabSize, c.blockSize(), c.nLayer(), c.nHead(), c.nEmbd(), c.dropout(), c.bias(),
                c.architecture());
    }

    private void prepareOutDir() throws IOException {
        try {
            Files.createDirectories(outDir);
            for (String f : List.of(Checkpoint.LAST, Checkpoint.BEST, "metrics.jsonl", "loss.png",
                    "config.properties")) {
                AtomicFiles.requireRegularOrAbsent(outDir.resolve(f));        // fail now, not at the first save
            }
            removeLeftovers(outDir, out);
            AtomicFiles.write(outDir.resolve("config.properties"),
                    ("# the effective settings of this run; `quill train --config "
                            + outDir.resolve("config.properties") + "` repeats it\n" + config.toProperties())
                            .getBytes(java.nio.charset.StandardCharsets.UTF_8));
        } catch (IOException e) {
            String why = e instanceof AccessDeniedException ? "permission denied" : e.getMessage();
            throw new IOException("cannot write to the output folder " + outDir + " (" + why + "); choose another"
                    + " with --out-dir", e);
        }
    }

    /** Temporary files that killed runs left in the run folder (a running one's are its own: not touched). */
    public static void removeLeftovers(Path outDir, PrintWriter out) throws IOException {
        long[] a = CheckpointWriter.removeLeftovers(outDir);
        long[] b = AtomicFiles.removeLeftovers(outDir, List.of("config.properties", "metrics.jsonl", "loss.png"));
        long files = a[0] + b[0];
        if (files > 0) {
            out.printf(Locale.ROOT, "note: removed %d temporary file%s (%s) left by killed runs in %s%n", files,
                    files == 1 ? "" : "s", bytes(a[1] + b[1]), outDir);
        }
    }

    private static String bytes(long n) {
        return n < 1 << 20 ? (n + 1023) / 1024 + " KB" : String.format(Locale.ROOT, "%.1f MB", n / 1048576.0);
    }

    /** The loss plot's title: the run's folder, the data, the shape, and the switches that differ from nanoGPT's. */
    private String title() {
        return "Quill " + outDir.getFileName() + ": " + config.dataset() + ", " + config.nLayer() + " layers, "
                + config.nHead() + " heads, " + config.nEmbd() + " embd, block " + config.blockSize()
                + ", " + describe(config.architecture());
    }

    private static String describe(GptConfig g) {
        return String.format(Locale.ROOT, "%d layers, %d heads, %d embd, block %d, vocab %d, dropout %s, bias %s, %s",
                g.nLayer(), g.nHead(), g.nEmbd(), g.blockSize(), g.vocabSize(), g.dropout(), g.bias(),
                describe(g.arch()));
    }

    /** "nanoGPT's architecture", or the switches that differ from it ("norm=rmsnorm pos=rope"). */
    public static String describe(quill.model.Architecture arch) {
        Map<String, String> d = arch.differences();
        if (d.isEmpty()) return "nanoGPT's architecture";
        StringBuilder sb = new StringBuilder();
        d.forEach((k, v) -> sb.append(sb.length() == 0 ? "" : " ").append(k).append('=').append(v));
        return sb.toString();
    }

    private static long countParameters(java.util.Collection<Parameter> params) {
        long n = 0;
        for (Parameter p : params) n += p.value().length();
        return n;
    }
}
