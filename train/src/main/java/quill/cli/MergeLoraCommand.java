package quill.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import quill.model.Gpt;
import quill.checkpoint.Checkpoint;
import quill.checkpoint.CheckpointWriter;
import quill.train.TrainConfig;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code quill merge-lora}: a LoRA run's adapters folded into its base's weights, {@code W + (alpha / R) B A} for
 * every adapted layer ({@link Gpt#mergeLora}), written as a plain checkpoint that needs no base and no adapters.
 */
@Command(name = "merge-lora", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Fold a LoRA run's adapters into its base's weights (W + alpha/R B A) and write a plain"
                + " checkpoint: the same logits, without the base file or the adapters.",
                "'quill sample', 'quill eval' and 'quill attention' read it with --ckpt FILE; 'quill train --init-from"
                        + " FILE' trains on from it (its optimizer state is fresh)."})
public final class MergeLoraCommand implements Callable<Integer> {

    @Parameters(paramLabel = "RUN",
            description = "A LoRA run's folder (its ckpt-best.zip, else ckpt-last.zip) or its checkpoint file.")
    Path run;

    @Option(names = "--out", paramLabel = "FILE", required = true,
            description = "The plain checkpoint to write (a new file).")
    Path out;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        Path source = EvalCommand.runOrCheckpoint(run);
        Checkpoint checkpoint = Checkpoint.load(source);
        if (checkpoint.config().lora() == null) {
            throw new CliException(source + " is not a LoRA checkpoint (lora-rank 0): there are no adapters to merge");
        }
        if (Files.exists(out, LinkOption.NOFOLLOW_LINKS)) {
            throw new CliException("--out " + out + " already exists; merge-lora writes a new file: choose another name"
                    + " or delete it first");
        }
        Gpt model = checkpoint.newModel();       // the base's weights and the adapters (checks the base's SHA-256)
        long adapters = model.adapters().values().stream().mapToLong(p -> p.value().length()).sum();
        model.mergeLora();
        TrainConfig plain = checkpoint.config().with(Map.of("lora-rank", "0"));
        new CheckpointWriter().write(out, plain, checkpoint.tokenizer(), checkpoint.state(), model,
                plain.newOptimizer(model.parameters()), checkpoint.sourceSha256());
        PrintWriter console = spec.commandLine().getOut();
        console.printf(Locale.ROOT, "merged %,d adapter parameters (rank %d, alpha %s, %s) into the base's weights:"
                + " wrote %s, %.2f MB%n", adapters, checkpoint.config().loraRank(), checkpoint.config().loraAlpha(),
                checkpoint.config().loraTargets(), out, Files.size(out) / 1e6);
        console.flush();
        return 0;
    }
}
