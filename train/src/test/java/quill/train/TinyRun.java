package quill.train;

import quill.data.DatasetPreparer;
import quill.data.PreparedData;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** A tiny dataset and model for fast training tests. */
public final class TinyRun {
    private TinyRun() {
    }

    public static final String TEXT = """
            First Citizen:
            Before we proceed any further, hear me speak.

            All:
            Speak, speak.

            First Citizen:
            You are all resolved rather to die than to famish?

            All:
            Resolved. resolved.
            """;

    /** A process id that no running process has. */
    public static long deadPid() {
        long pid = 4_000_000;
        while (ProcessHandle.of(pid).isPresent()) pid++;
        return pid;
    }

    /** A prepared dataset "tiny" under {@code dataDir}: the text above, 40 times. */
    public static PreparedData prepare(Path dataDir) throws IOException {
        Path input = Files.createDirectories(dataDir).resolve("tiny.txt");
        Files.writeString(input, TEXT.repeat(40));
        return new DatasetPreparer(new PrintWriter(new StringWriter())).prepare(dataDir, "tiny", input);
    }

    /** A model of a few thousand parameters, evals every 5 iterations over 2 batches. */
    public static TrainConfig config(Path outDir, int maxIters) throws IOException {
        return TrainConfig.preset("shakespeare_char_cpu").with(Map.ofEntries(
                Map.entry("dataset", "tiny"),
                Map.entry("out-dir", outDir.toString()),
                Map.entry("n-layer", "1"),
                Map.entry("n-head", "2"),
                Map.entry("n-embd", "16"),
                Map.entry("block-size", "16"),
                Map.entry("batch-size", "4"),
                Map.entry("dropout", "0.1"),
                Map.entry("max-iters", String.valueOf(maxIters)),
                Map.entry("eval-interval", "5"),
                Map.entry("eval-iters", "2"),
                Map.entry("warmup-iters", "3"),
                Map.entry("lr-decay-iters", "20"),
                Map.entry("learning-rate", "1e-2"),
                Map.entry("min-lr", "1e-3")));
    }

    public static Trainer trainer(TrainConfig config, PreparedData data, StringWriter console) {
        Trainer t = new Trainer(config, data, new PrintWriter(console, true), false);
        t.sampleLength(20);
        return t;
    }

    public static List<MetricsLog.Step> steps(Path outDir) throws IOException {
        List<MetricsLog.Step> steps = new ArrayList<>();
        MetricsLog.read(outDir.resolve("metrics.jsonl"), steps, new ArrayList<>());
        return steps;
    }

    public static List<MetricsLog.Eval> evals(Path outDir) throws IOException {
        List<MetricsLog.Eval> evals = new ArrayList<>();
        MetricsLog.read(outDir.resolve("metrics.jsonl"), new ArrayList<>(), evals);
        return evals;
    }
}
