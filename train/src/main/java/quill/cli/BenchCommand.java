package quill.cli;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import quill.model.GptConfig;
import quill.train.DataParallel;
import quill.data.PreparedData;
import quill.bench.StepBenchmark;
import quill.data.TokenFile;
import quill.train.TrainConfig;
import quill.train.Trainer;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.OptionalLong;
import java.util.concurrent.Callable;

@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
                "Time full training steps (forward and backward over every micro-batch, gradient clipping, AdamW:"
                        + " the code 'quill train' runs) of a preset's model, after a warm-up.",
                "Prints the median ms/iter (and p10, p90), tokens/s, GFLOP/s as nanoGPT's estimate_mfu counts"
                        + " FLOPs, the peak resident memory, and the ND4J build and threads in use."},
        footer = {"", "Uses the prepared dataset when --data-dir holds it, else random token ids (same speed).",
                "--threads is as for 'quill train': worker threads, each running forward and backward on its share of"
                        + " the batch's rows with single-threaded ND4J and OpenBLAS.",
                "OMP_WAIT_POLICY (PASSIVE unless set, by ./quill) can only be set before start-up."})
public final class BenchCommand implements Callable<Integer> {

    @Option(names = "--preset", paramLabel = "NAME", defaultValue = TrainConfig.DEFAULT_PRESET,
            description = "The model and batch shape to time (default: ${DEFAULT-VALUE}).")
    String preset;

    @Option(names = "--config", paramLabel = "FILE",
            description = "A settings file in the presets' format; it overrides the preset (e.g. n-layer = 2).")
    Path configFile;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "50",
            description = "Timed steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--warmup", paramLabel = "N", defaultValue = "100",
            description = "Untimed steps first, while the JIT compiles and the workspaces learn their size (default:"
                    + " ${DEFAULT-VALUE}; with 10, the compiler threads still took a core from the workers).")
    int warmup;

    @Option(names = "--threads", paramLabel = "N",
            description = "Worker threads sharing each batch (default: one per core, at most batch-size).")
    Integer threads;

    @Option(names = "--data-dir", paramLabel = "DIR", defaultValue = PreparedData.DEFAULT_DATA_DIR,
            description = "Folder holding the dataset folders (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(names = "--health-interval", paramLabel = "N",
            description = "Health statistics every N steps, as in training (default: the preset's; 0: off).")
    Integer healthInterval;

    @Option(names = "--json", description = "Print one JSON object instead of the table.")
    boolean json;

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (steps < 1) throw usage("--steps must be at least 1, got " + steps);
        if (warmup < 0) throw usage("--warmup must not be negative, got " + warmup);
        if (threads != null && threads < 1) throw usage("--threads must be at least 1, got " + threads);
        TrainConfig config;
        try {
            config = TrainConfig.preset(preset);
            if (configFile != null) config = config.with(TrainConfig.readFile(configFile));
            if (healthInterval != null) config = config.with(java.util.Map.of("health-interval", "" + healthInterval));
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }

        String dataNote;
        TokenFile train = null;
        int vocab = StepBenchmark.RANDOM_VOCAB;
        if (PreparedData.isPrepared(dataDir, config.dataset())) {
            PreparedData data = PreparedData.load(dataDir, config.dataset());
            train = TokenFile.open(data.trainBin());
            if (train.size() <= config.blockSize()) {
                throw new CliException(data.trainBin() + " holds " + train.size() + " tokens, too few for block-size "
                        + config.blockSize());
            }
            vocab = data.vocabSize();
            dataNote = "batches from " + data.trainBin();
        } else {
            dataNote = "random token ids, vocab " + vocab + " (" + PreparedData.datasetDir(dataDir, config.dataset())
                    + " is not prepared)";
        }

        int workers = threads != null ? threads : DataParallel.defaultWorkers(config.batchSize());
        StepBenchmark bench = new StepBenchmark(config, train, vocab, workers);
        StepBenchmark.Timings timings = bench.time(warmup, steps);
        long[] ns = timings.wallNs();
        boolean haveCpu = timings.cpuNs()[0] >= 0;
        double cpuMedian = StepBenchmark.percentile(timings.cpuNs(), 50) / 1e6;
        StepBenchmark.NativeBuild backend = StepBenchmark.nativeBuild();
        GptConfig shape = Trainer.modelConfig(config, vocab);
        long params = StepBenchmark.nonEmbeddingParams(bench.model());
        double flops = StepBenchmark.flopsPerIter(shape, params, config.batchSize(),
                config.gradientAccumulationSteps());
        double median = StepBenchmark.percentile(ns, 50) / 1e6;
        double p10 = StepBenchmark.percentile(ns, 10) / 1e6;
        double p90 = StepBenchmark.percentile(ns, 90) / 1e6;
        double tokensPerSecond = config.tokensPerIter() / (median / 1000);
        double gflops = flops / (median / 1000) / 1e9;
        double[] health = healthCost(timings, config.healthInterval());
        OptionalLong rss = StepBenchmark.peakResidentBytes();

        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            JsonObject o = new JsonObject();
            o.addProperty("preset", preset);
            o.addProperty("nLayer", shape.nLayer());
            o.addProperty("nHead", shape.nHead());
            o.addProperty("nEmbd", shape.nEmbd());
            o.addProperty("blockSize", shape.blockSize());
            o.addProperty("vocabSize", shape.vocabSize());
            o.addProperty("batchSize", config.batchSize());
            o.addProperty("gradientAccumulationSteps", config.gradientAccumulationSteps());
            o.addProperty("tokensPerIter", config.tokensPerIter());
            o.addProperty("data", train != null ? "prepared" : "random");
            o.addProperty("warmupSteps", warmup);
            o.addProperty("steps", steps);
            o.addProperty("msPerIterMedian", median);
            o.addProperty("msPerIterP10", p10);
            o.addProperty("msPerIterP90", p90);
            if (haveCpu) o.addProperty("cpuMsPerIterMedian", cpuMedian);
            else o.add("cpuMsPerIterMedian", com.google.gson.JsonNull.INSTANCE);
            o.addProperty("tokensPerSecond", tokensPerSecond);
            o.addProperty("nonEmbeddingParams", params);
            o.addProperty("flopsPerIter", flops);
            o.addProperty("gflopsPerSecond", gflops);
            if (rss.isPresent()) o.addProperty("peakRssBytes", rss.getAsLong());
            else o.add("peakRssBytes", com.google.gson.JsonNull.INSTANCE);
            o.addProperty("backend", backend.backend());
            o.addProperty("onednn", backend.onednn());
            o.addProperty("blasVendor", backend.blasVendor());
            o.addProperty("workers", workers);
            o.addProperty("ompThreads", backend.ompThreads());
            o.addProperty("blasThreads", backend.blasThreads());
            o.addProperty("ompWaitPolicy", System.getenv().getOrDefault("OMP_WAIT_POLICY", ""));
            o.addProperty("java", System.getProperty("java.vm.name") + " " + Runtime.version());
            o.addProperty("healthInterval", config.healthInterval());
            if (health != null) {
                o.addProperty("healthSteps", (int) health[0]);
                o.addProperty("healthExtraMsMedian", health[1]);
                o.addProperty("healthCostShare", health[2]);
            }
            out.println(new GsonBuilder().serializeSpecialFloatingPointValues().create().toJson(o));
        } else {
            out.printf(Locale.ROOT,
                    "model:    %d layers, %d heads, %d embd, block %d, vocab %d; batch %d x %d accumulation = %d"
                            + " tokens/iter%n",
                    shape.nLayer(), shape.nHead(), shape.nEmbd(), shape.blockSize(), shape.vocabSize(),
                    config.batchSize(), config.gradientAccumulationSteps(), config.tokensPerIter());
            out.printf(Locale.ROOT, "data:     %s%n", dataNote);
            out.printf(Locale.ROOT,
                    "backend:  ND4J %s, %s build, BLAS %s; %d worker thread%s, each with OpenMP %d, BLAS %d;"
                            + " OMP_WAIT_POLICY %s%n",
                    backend.backend(), backend.onednn() ? "oneDNN" : "plain", backend.blasVendor(), workers,
                    workers == 1 ? "" : "s",
                    backend.ompThreads(), backend.blasThreads(),
                    System.getenv().getOrDefault("OMP_WAIT_POLICY", "unset"));
            out.printf(Locale.ROOT, "steps:    %d warm-up, %d timed (forward+backward, clip, AdamW)%n", warmup, steps);
            out.printf(Locale.ROOT, "ms/iter:  median %.2f   p10 %.2f   p90 %.2f%n", median, p10, p90);
            if (haveCpu) {
                out.printf(Locale.ROOT,
                        "CPU:      median %.2f ms of process CPU time per iter (all threads; steadier than the wall"
                                + " clock on a busy machine)%n",
                        cpuMedian);
            }
            out.printf(Locale.ROOT, "tokens/s: %,.0f%n", tokensPerSecond);
            out.printf(Locale.ROOT,
                    "GFLOP/s:  %.1f   (%.3f GFLOP/iter as nanoGPT's estimate_mfu counts: 6N + 12LHQT per token, N ="
                            + " %,d)%n",
                    gflops, flops / 1e9, params);
            if (health != null) {
                out.printf(Locale.ROOT, "health:   every %d steps; a health step took %+.2f ms more %s than the others"
                        + " (medians, %d health steps): %.2f%% of the step time at this interval%n",
                        config.healthInterval(), health[1], haveCpu ? "CPU time" : "wall time", (int) health[0],
                        100 * health[2]);
            } else {
                out.printf(Locale.ROOT, "health:   %s%n", config.healthInterval() == 0 ? "off (--health-interval 0)"
                        : "no timed step was a health step; time more --steps");
            }
            out.printf(Locale.ROOT, "peak RSS: %s%n", rss.isPresent()
                    ? String.format(Locale.ROOT, "%.0f MiB", rss.getAsLong() / 1048576.0)
                    : "unknown (no /proc/self/status)");
        }
        out.flush();
        return 0;
    }

    /**
     * What health statistics cost: how many timed steps were health steps, the median time of those minus the
     * median of the others (ms; process CPU time where the JVM tells it, else wall time), and that extra spread over
     * {@code interval} steps as a share of a plain step's time. Null when no timed step was a health step.
     */
    static double[] healthCost(StepBenchmark.Timings t, int interval) {
        long[] ns = t.cpuNs()[0] >= 0 ? t.cpuNs() : t.wallNs();     // CPU time: steadier on a busy machine
        List<Long> health = new ArrayList<>(), plain = new ArrayList<>();
        for (int i = 0; i < ns.length; i++) (t.health()[i] ? health : plain).add(ns[i]);
        if (health.isEmpty() || plain.isEmpty()) return null;
        double h = StepBenchmark.percentile(health.stream().mapToLong(Long::longValue).toArray(), 50) / 1e6;
        double p = StepBenchmark.percentile(plain.stream().mapToLong(Long::longValue).toArray(), 50) / 1e6;
        return new double[]{health.size(), h - p, (h - p) / interval / p};
    }

    private CommandLine.ParameterException usage(String message) {
        return new CommandLine.ParameterException(spec.commandLine(), message);
    }
}
