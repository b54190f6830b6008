package quill.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import quill.model.Gpt;
import quill.checkpoint.Checkpoint;
import quill.checkpoint.Quantization;
import quill.checkpoint.QuantizedCheckpoint;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code quill quantize}: a checkpoint with its matrices as int8 or int4 and scales ({@link QuantizedCheckpoint}). */
@Command(name = "quantize", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Write a run's checkpoint with every Linear and embedding weight as integers and scales:"
                + " int8 with one scale per output row, or int4 with one scale per group of weights in a row."
                + " Norm weights and biases stay float.",
                "'quill sample', 'quill eval' and 'quill attention' read the file with --ckpt FILE;"
                        + " 'quill train --resume' refuses it."})
public final class QuantizeCommand implements Callable<Integer> {

    @Parameters(paramLabel = "RUN",
            description = "A run's folder (its ckpt-best.zip, else ckpt-last.zip) or a checkpoint file.")
    Path run;

    @Option(names = "--bits", paramLabel = "8|4", required = true, description = "8 or 4 bits a weight.")
    int bits;

    @Option(names = "--group-size", paramLabel = "G",
            description = "Weights per scale for 4 bits (default: 32); 8 bits has one scale per row.")
    Integer groupSize;

    @Option(names = "--out", paramLabel = "FILE",
            description = "Where to write (default: ckpt-int8.zip or ckpt-int4-g<G>.zip beside the source).")
    Path out;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        Quantization scheme;
        try {
            scheme = new Quantization(bits, bits == 4 && groupSize == null ? 32 : groupSize == null ? 0 : groupSize);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        Path source = EvalCommand.runOrCheckpoint(run);
        Checkpoint checkpoint = Checkpoint.load(source);
        if (checkpoint.quantization() != null) {
            throw new CliException(source + " is already quantised (" + checkpoint.quantization().describe()
                    + "); quantise the float checkpoint it came from");
        }
        if (checkpoint.config().lora() != null) {
            throw new CliException(source + " holds LoRA adapters, not a whole model: fold them into a plain checkpoint"
                    + " with 'quill merge-lora " + run + " --out FILE', then quantise that");
        }
        Path target = out != null ? out
                : source.resolveSibling(bits == 8 ? "ckpt-int8.zip" : "ckpt-int4-g" + scheme.groupSize() + ".zip");
        String name = target.getFileName().toString();
        if (name.equals(Checkpoint.LAST) || name.equals(Checkpoint.BEST)
                || Files.exists(target) && Files.isSameFile(target, source)) {
            throw new CliException("--out " + target + " would replace a training checkpoint; choose another name");
        }
        if (Files.isDirectory(target)) throw new CliException("--out " + target + " is a folder; give a file name");
        Gpt model = checkpoint.newModel();
        QuantizedCheckpoint.write(checkpoint, model, scheme, target);
        PrintWriter console = spec.commandLine().getOut();
        console.printf(Locale.ROOT,
                "wrote %s: %s, %.2f MB (the float checkpoint without optimizer state: %.2f MB; with it %.2f MB)%n",
                target, scheme.describe(), Files.size(target) / 1e6, floatBytes(model) / 1e6, Files.size(source) / 1e6);
        console.flush();
        return 0;
    }

    /** The float32 weights' size. */
    private static long floatBytes(Gpt model) {
        return 4 * model.parameters().values().stream().mapToLong(p -> p.value().length()).sum();
    }
}
