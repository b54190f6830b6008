package quill.train;

import quill.autograd.Parameter;
import quill.autograd.TorchGenerator;
import quill.model.Optimizer;
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
 * in eval mode and checkpoints when val loss improves.
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

    private Outcome loop(Checkpoint resumeFrom) throws IOException {
        TrainConfig c = config;
        TokenFile train = TokenFile.open(data.trainBin());
        TokenFile val = TokenFile.open(data.valBin());
        for (TokenFile f : List.of(train, val)) {
            if (f.size() <= c.blockSize()) {
                throw new IllegalArgumentException("block-size " + c.blockSize() + " is longer than the data: " + f.path()
                        + " holds " + f.size() + " tokens; use a --block-size below " + f.size());
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
        Gpt model = Gpt.drawnFrom(shape, rng);                              // the initial weights: the first draws
        this.model = model;
        if (resumeFrom == null) initTransform.accept(model);
        if (resumeFrom != null) initFrom = FineTune.baseOf(resumeFrom);   // a LoRA run resumes on its base's weights
        if (initFrom != null) {
            initFrom.initialize(model);
            if (c.lora() != null) FineTune.adapt(model, c.lora(), initFrom.base().modelConfig().vocabSize(), rng);
        }
        List<Parameter> params = List.copyOf(model.parameters().values());
        Optimizer optimizer = c.newOptimizer(model.trainable());
        LearningRateSchedule schedule = LearningRateSchedule.of(c);

        BatchStream batches = new BatchStream(train, rng, c.batchSize(), c.blockSize()); // X, Y = get_batch('train')
        int iter = 0;
        int lastEvalIter = -1;
        double bestVal = Double.POSITIVE_INFINITY;
        List<MetricsLog.Step> steps = new ArrayList<>();
        List<MetricsLog.Eval> evals = new ArrayList<>();
        MetricsLog metrics;
        Path metricsFile = outDir.resolve("metrics.jsonl");
        if (resumeFrom != null) {
            resumeFrom.loadWeights(model);
            resumeFrom.loadOptimizer(optimizer);
            TrainingState s = resumeFrom.state();
            iter = s.iter();
            lastEvalIter = s.lastEvalIter();
            bestVal = Math.min(s.bestValLoss(), bestOnDisk());
            rng.setState(s.rngState());
            batches.resume(s.nextBatch());
            GptHooks.setDropoutState(model, s.dropoutState());
            metrics = MetricsLog.resume(metricsFile, iter, lastEvalIter);
            MetricsLog.read(metricsFile, steps, evals);
            out.printf(Locale.ROOT, "resuming from %s at iteration %d (best val loss %.4f)%n", resumeFrom.file(), iter, bestVal);
        } else {
            metrics = MetricsLog.create(metricsFile);
        }
        out.printf(Locale.ROOT, "model: %s, %.2fM parameters; %d tokens per iteration, shared by %d worker thread%s%n",
                describe(shape), countParameters(params) / 1e6, c.tokensPerIter(), threads, threads == 1 ? "" : "s");
        if (model.lora() != null) {
            long trainable = countParameters(model.trainable().values());
            long adapters = countParameters(model.adapters().values());
            out.printf(Locale.ROOT, "LoRA rank %d, alpha %s on %s: %,d trainable parameters (%.2f%% of the model's):"
                    + " %,d in adapters%s; the rest frozen%n", c.loraRank(), c.loraAlpha(), c.loraTargets(), trainable,
                    100.0 * trainable / countParameters(params), adapters, trainable == adapters ? ""
                            : ", the others the token embedding, whose new ids' rows must learn");
        } else if (initFrom != null && resumeFrom == null) {
            out.println("starting from " + initFrom.file() + " (iteration " + initFrom.base().state().iter()
                    + " of its run): every weight trains");
        }

        DataParallel workers = new DataParallel(model, threads);
        TrainingStep step = new TrainingStep(workers, optimizer, c);
        ProgressLine progress = new ProgressLine(out, terminal, c.logInterval());
        Path last = Checkpoint.last(outDir);
        Path best = Checkpoint.best(outDir);
        int savedIter = resumeFrom != null ? iter : -1;
        double emaMs = 0;
        double evalSeconds = 0;
        // wall time for the evals' elapsed_s: this process's, after what a resumed run had already spent
        long runStart = System.nanoTime();
        double elapsedBefore = evals.isEmpty() || evals.get(evals.size() - 1).elapsedS() == null ? 0
                : evals.get(evals.size() - 1).elapsedS();
        FullEval fullEval = new FullEval(data.readVal(), tokenizer);
        FullEval.Result fullVal = null;   // the whole val split's loss at iteration fullValIter
        int fullValIter = -1;
        int bestSavedIter = -1;           // the iteration whose model this process wrote to ckpt-best.zip
        boolean reached = false;
        double targetSeconds = 0;
        try (metrics; workers) {
            model.setTraining(true);
            while (true) {
                if (stopRequested) {
                    progress.clear();
                    if (savedIter != iter) {
                        save(last, state(iter, lastEvalIter, bestVal, rng, batches.ahead(), model), model, optimizer);
                    }
                    out.printf("stopped at iteration %d; saved %s. Continue with: quill train --resume --out-dir %s%n",
                            iter, last, outDir);
                    return Outcome.STOPPED;
                }
                if ((iter % c.evalInterval() == 0 || iter == c.maxIters()) && iter != lastEvalIter) {
                    long t0 = System.nanoTime();
                    model.setTraining(false);
                    double trainLoss = estimateLoss(workers, train, rng);
                    double valLoss = estimateLoss(workers, val, rng);
                    model.setTraining(true);
                    if (!Double.isFinite(trainLoss) || !Double.isFinite(valLoss)) {
                        progress.clear();
                        throw diverged(String.format(Locale.ROOT, "the %s became %s in the eval at iteration %d",
                                Double.isFinite(trainLoss) ? "val loss" : "train loss",
                                Double.isFinite(trainLoss) ? valLoss : trainLoss, iter), last);
                    }
                    lastEvalIter = iter;
                    MetricsLog.Eval e = new MetricsLog.Eval(iter, trainLoss, valLoss,
                            elapsedBefore + (System.nanoTime() - runStart) / 1e9);
                    evals.add(e);
                    metrics.eval(e);
                    metrics.flush();
                    boolean improved = valLoss < bestVal;
                    if (improved) bestVal = valLoss;
                    // --target-val-loss: an estimate that reaches the target is confirmed on the whole val split
                    if (iter > 0 && c.targetValLoss() > 0 && valLoss <= c.targetValLoss()) {
                        fullVal = fullEval.run(workers);
                        fullValIter = iter;
                        reached = fullVal.loss() <= c.targetValLoss();
                    }
                    String note = "";
                    if (iter > 0 && (improved || reached || c.alwaysSaveCheckpoint())) {
                        TrainingState now = state(iter, lastEvalIter, bestVal, rng, batches.ahead(), model);
                        if (improved || reached) {   // the model that met the target is the one to keep
                            // best first: a kill between the two leaves ckpt-last.zip at the older state, which
                            // names a best val loss that ckpt-best.zip matches or beats, never one it lacks
                            save(best, now, model, optimizer);
                            writer.copy(best, last);
                            bestSavedIter = iter;
                        } else {
                            save(last, now, model, optimizer);
                        }
                        savedIter = iter;
                        note = "saved " + last.getFileName() + (improved ? " and " + best.getFileName() : "");
                    }
                    progress.println(String.format(Locale.ROOT, "eval %d: train loss %.4f, val loss %.4f%s%s",
                            iter, trainLoss, valLoss, improved && iter > 0 ? " (best so far)" : "", note.isEmpty() ? "" : "; " + note));
                    if (fullValIter == iter) {
                        metrics.fullEval(iter, fullVal);
                        if (reached) break;
                        progress.println(String.format(Locale.ROOT, "  whole val split: loss %.4f, above the target"
                                + " %.4f%s", fullVal.loss(), c.targetValLoss(),
                                iter < c.maxIters() ? ": training on" : ""));
                    }
                    LossPlot.draw(outDir.resolve("loss.png"), steps, evals, title());
                    evalSeconds = (System.nanoTime() - t0) / 1e9;
                }
                if (iter >= c.maxIters()) break;

                // one optimizer step
                long t0 = System.nanoTime();
                double lr = schedule.at(iter);
                long dropoutBefore = GptHooks.dropoutState(model);          // with the starts: what a replay needs
                List<int[]> starts = new ArrayList<>(c.gradientAccumulationSteps());
                boolean healthStep = c.healthInterval() > 0 && iter % c.healthInterval() == 0;
                HealthStats health = healthStep ? new HealthStats() : null;
                TrainingStep.Result r = step.run((bx, by) -> starts.add(batches.next(bx, by)), lr, health);
                double loss = r.loss(), norm = r.gradNorm();
                if (!r.updated()) {
                    progress.clear();
                    String what = String.format(Locale.ROOT, "the %s became %s at iteration %d (learning rate %.3g)",
                            Double.isFinite(loss) ? "gradient norm" : "loss", Double.isFinite(loss) ? norm : loss, iter,
                            lr);
                    String where = investigate(workers, train, starts, dropoutBefore, iter, norm, steps, lr);
                    throw diverged(what, last, where);
                }
                double ms = (System.nanoTime() - t0) / 1e6;

                MetricsLog.Step s = new MetricsLog.Step(iter, loss, lr, ms, c.tokensPerIter() / (ms / 1000), norm,
                        r.clipped());
                steps.add(s);
                metrics.step(s);
                if (health != null) metrics.health(health.toJson(iter));
                emaMs = emaMs == 0 ? ms : 0.9 * emaMs + 0.1 * ms;
                int left = c.maxIters() - iter - 1;
                double secondsLeft = left * emaMs / 1000
                        + evalSeconds * (left / c.evalInterval() + 1);
                if (progress.step(iter, c.maxIters(), loss, emaMs, c.tokensPerIter() / (emaMs / 1000), secondsLeft)) {
                    metrics.flush();
                }
                iter++;
                afterStep.accept(iter - 1);
            }
            if (savedIter != iter) {
                save(last, state(iter, lastEvalIter, bestVal, rng, batches.ahead(), model), model, optimizer);
            }
            if (fullValIter != iter) {
                fullVal = fullEval.run(workers);                             // the final model, every val token once
                metrics.fullEval(iter, fullVal);
                if (c.targetValLoss() > 0 && fullVal.loss() <= c.targetValLoss()) {
                    reached = true;                                           // at max-iters, on the whole split
                    if (bestSavedIter != iter) writer.copy(last, best);
                }
            }
            if (reached) {
                targetSeconds = secondsSinceLaunch();   // the checkpoint that met the target is on disk
                metrics.target(iter, c.targetValLoss(), targetSeconds);
            }
        }
        progress.clear();
        out.printf(Locale.ROOT, "full val split (%,d tokens, every one predicted once): loss %.4f, %.4f bits/char, in %.1f s%n",
                fullVal.predictions(), fullVal.loss(), fullVal.bitsPerChar(), fullVal.seconds());
        if (c.targetValLoss() > 0) reportTarget(reached, iter, fullVal, targetSeconds, resumeFrom != null);
        if (reached) LossPlot.draw(outDir.resolve("loss.png"), steps, evals, title());   // with the last eval
        out.printf(Locale.ROOT, "done: %d iterations, best val loss %.4f. Checkpoints, metrics.jsonl and loss.png are in %s%n",
                iter, bestVal, outDir);
        if (reached) {   // a speedrun ends here: the closing sample would only add to its time
            out.println("see what it writes: quill sample --out-dir " + outDir);
            return Outcome.TARGET_REACHED;
        }
        if (sampleChars > 0) sample(model, tokenizer);
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

    private void save(Path file, TrainingState state, Gpt model, Optimizer optimizer) throws IOException {
        writer.write(file, config, data.tokenizer(), state, model, optimizer, data.sourceSha256(), initFrom);
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
    private String investigate(DataParallel workers, TokenFile train, List<int[]> starts, long dropoutState, int iter,
                               double norm, List<MetricsLog.Step> steps, double lr) {
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
    private double estimateLoss(DataParallel workers, TokenFile file, TorchGenerator rng) {
        List<int[][]> xs = new ArrayList<>();
        List<int[][]> ys = new ArrayList<>();
        for (int k = 0; k < config.evalIters(); k++) {
            int[][] x = new int[config.batchSize()][config.blockSize()];
            int[][] y = new int[config.batchSize()][config.blockSize()];
            file.sampleBatch(rng, x, y);
            xs.add(x);
            ys.add(y);
        }
        double sum = 0;
        for (double loss : workers.losses(xs, ys)) sum += loss;
        return sum / config.evalIters();
    }

    /** A short sample from the trained model, as a first taste (`quill sample` has all the controls). */
    private void sample(Gpt model, Tokenizer tokenizer) {
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
                    + ckpt.quantization().describe() + ") and holds no optimizer state; resume from the float checkpoint"
                    + " it was made from");
        }
        if (!ckpt.state().resumable()) {
            throw new IllegalArgumentException("cannot resume from " + ckpt.file() + ": an earlier Quill wrote it (checkpoint"
                    + " format 1), whose batches were drawn differently; start a new run in another --out-dir ('quill sample'"
                    + " still reads its weights)");
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
                        + " but the settings say " + p[1] + "; drop " + drop + " (or start a new run in another --out-dir)");
            }
        }
        if (!ckpt.tokenizer().toJson().equals(tokenizer.toJson())) {
            throw new IllegalArgumentException("cannot resume from " + ckpt.file() + ": its vocabulary differs from dataset "
                    + c.dataset() + "'s; resume with the dataset it was trained on (--dataset " + ckpt.config().dataset() + ")");
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

    private static TrainingState state(int iter, int lastEvalIter, double bestVal, TorchGenerator rng, int[] nextBatch, Gpt model) {
        return new TrainingState(iter, lastEvalIter, bestVal, rng.state(), nextBatch, GptHooks.dropoutState(model));
    }

    private void prepareOutDir() throws IOException {
        try {
            Files.createDirectories(outDir);
            for (String f : List.of(Checkpoint.LAST, Checkpoint.BEST, "metrics.jsonl", "loss.png", "config.properties")) {
                AtomicFiles.requireRegularOrAbsent(outDir.resolve(f));        // fail now, not at the first save
            }
            removeLeftovers();
            AtomicFiles.write(outDir.resolve("config.properties"),
                    ("# the effective settings of this run; `quill train --config " + outDir.resolve("config.properties")
                            + "` repeats it\n" + config.toProperties()).getBytes(java.nio.charset.StandardCharsets.UTF_8));
        } catch (IOException e) {
            String why = e instanceof AccessDeniedException ? "permission denied" : e.getMessage();
            throw new IOException("cannot write to the output folder " + outDir + " (" + why + "); choose another with --out-dir", e);
        }
    }

    /** Temporary files that killed runs left in the run folder (a running one's are its own: not touched). */
    private void removeLeftovers() throws IOException {
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
                g.nLayer(), g.nHead(), g.nEmbd(), g.blockSize(), g.vocabSize(), g.dropout(), g.bias(), describe(g.arch()));
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
