package quill.cli;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import quill.model.Gpt;
import quill.checkpoint.Checkpoint;
import quill.train.DataParallel;
import quill.train.FullEval;
import quill.data.PreparedData;
import quill.train.TrainConfig;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code quill eval}: the loss of a checkpoint over a whole split of a prepared dataset, every token predicted
 * once ({@link FullEval}), with perplexity and bits per character.
 */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"The loss of a checkpoint over a whole split, every token predicted once in windows of the"
                + " model's block size (deterministic), with perplexity and bits per character.",
                "Reads ckpt-best.zip in --out-dir (else ckpt-last.zip), or the file --ckpt names"
                        + " (a quantised one too)."})
public final class EvalCommand implements Callable<Integer> {

    /** Which split of the prepared data. */
    enum Split { val, train }

    @Option(names = "--out-dir", paramLabel = "DIR",
            description = "The training run's folder (default: the CPU preset's, out/shakespeare_char_cpu).")
    Path outDir;

    @Option(names = "--ckpt", paramLabel = "FILE",
            description = "A checkpoint file instead (e.g. one 'quill quantize' wrote).")
    Path ckpt;

    @Option(names = "--dataset", paramLabel = "NAME",
            description = "Dataset folder under --data-dir (default: the one the run trained on).")
    String dataset;

    @Option(names = "--data-dir", paramLabel = "DIR", defaultValue = PreparedData.DEFAULT_DATA_DIR,
            description = "Where dataset folders are (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(names = "--split", paramLabel = "val|train", defaultValue = "val",
            description = "Which split (default: ${DEFAULT-VALUE}).")
    Split split;

    @Option(names = "--threads", paramLabel = "N",
            description = "Worker threads sharing the windows (default: one per core).")
    Integer threads;

    @Option(names = "--json", description = "Print one JSON object instead of the lines (for scripts).")
    boolean json;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (outDir != null && ckpt != null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "give --out-dir or --ckpt, not both");
        }
        if (threads != null && threads < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--threads must be at least 1, got " + threads);
        }
        Path file = ckpt != null ? ckpt : runCheckpoint(outDir);
        Checkpoint checkpoint = Checkpoint.load(file);
        String name = dataset != null ? dataset : checkpoint.config().dataset();
        if (!PreparedData.isPrepared(dataDir, name)) {
            throw new CliException("dataset " + name + " is not prepared in " + dataDir + ": run 'quill prepare " + name
                    + "' (or give --data-dir / --dataset)");
        }
        PreparedData data = PreparedData.load(dataDir, name);
        if (!data.tokenizer().toJson().equals(checkpoint.tokenizer().toJson())) {
            throw new CliException("dataset " + name + "'s vocabulary (" + data.vocabSize() + " tokens) differs from"
                    + " the one " + file + " was trained with (" + checkpoint.tokenizer().vocabSize() + " tokens): its"
                    + " token ids mean other text; evaluate on the dataset it was trained on (--dataset "
                    + checkpoint.config().dataset() + ")");
        }
        int[] tokens = split == Split.val ? data.readVal() : data.readTrain();
        if (tokens.length < 2) {
            throw new CliException("the " + split + " split of " + name + " holds " + tokens.length + " token"
                    + (tokens.length == 1 ? "" : "s") + ": nothing to predict");
        }
        FullEval eval = new FullEval(tokens, data.tokenizer());
        Gpt model = checkpoint.newModel();
        int workers = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        FullEval.Result r;
        try (DataParallel dp = new DataParallel(model, workers)) {
            r = eval.run(dp);
        }
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            JsonObject o = new JsonObject();
            o.addProperty("checkpoint", file.toString());
            if (checkpoint.quantization() != null) o.addProperty("quantization", checkpoint.quantization().describe());
            o.addProperty("dataset", name);
            o.addProperty("split", split.name());
            o.addProperty("tokens", r.predictions());
            o.addProperty("characters", r.characters());
            o.addProperty("loss", r.loss());
            o.addProperty("perplexity", r.perplexity());
            o.addProperty("bits_per_char", r.bitsPerChar());
            o.addProperty("seconds", r.seconds());
            out.println(new GsonBuilder().disableHtmlEscaping().create().toJson(o));
        } else {
            out.printf(Locale.ROOT, "checkpoint %s: iteration %d%s%n", file, checkpoint.state().iter(),
                    checkpoint.quantization() == null ? "" : ", " + checkpoint.quantization().describe());
            out.printf(Locale.ROOT, "%s split of %s: %,d tokens predicted (%,d characters), windows of %d%n",
                    split, name, r.predictions(), r.characters(), model.config().blockSize());
            out.printf(Locale.ROOT, "loss %.4f   perplexity %.3f   bits/char %.4f%n",
                    r.loss(), r.perplexity(), r.bitsPerChar());
            out.printf(Locale.ROOT, "%.2f s, %,.0f tokens/s, %d worker thread%s%n", r.seconds(), r.tokensPerSecond(),
                    workers, workers == 1 ? "" : "s");
        }
        out.flush();
        return 0;
    }

    /** A run folder's checkpoint ({@link Checkpoint#bestElseLast}), or a clear error when it has none. */
    static Path runCheckpoint(Path outDir) throws IOException {
        Path dir = outDir != null ? outDir : Path.of(TrainConfig.preset(TrainConfig.DEFAULT_PRESET).outDir());
        Path file = Checkpoint.bestElseLast(dir);
        if (file != null) return file;
        throw new CliException("no checkpoint in " + dir + " (neither " + Checkpoint.BEST + " nor " + Checkpoint.LAST
                + "): train one with 'quill train" + (outDir != null ? " --out-dir " + dir : "")
                + "', or give a run's folder with --out-dir or a checkpoint file with --ckpt");
    }

    /** What a RUN argument names: a run folder's checkpoint ({@link #runCheckpoint}), or a checkpoint file itself. */
    static Path runOrCheckpoint(Path run) throws IOException {
        return Files.isDirectory(run) ? runCheckpoint(run) : run;
    }
}
