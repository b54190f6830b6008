package quill.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import quill.model.Gpt;
import quill.plot.AttentionPlot;
import quill.checkpoint.Checkpoint;
import quill.train.TrainConfig;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "attention", mixinStandardHelpOptions = true,
        description = "Draw the attention weights of one layer for a prompt: a grid of heatmaps, one per head; "
                + "row = query position, column = key position, both labelled with the prompt's tokens.",
        footer = {"", "Example: quill attention --start \"ROMEO:\\nBut soft\" --layer 1"})
public final class AttentionCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--out-dir", paramLabel = "DIR",
            description = "The training run to read (its ckpt-best.zip, else ckpt-last.zip); default: the CPU"
                    + " preset's out dir.")
    Path outDir;

    @Option(names = "--ckpt", paramLabel = "FILE",
            description = "A checkpoint file instead (e.g. one 'quill quantize' wrote).")
    Path ckpt;

    @Option(names = "--start", paramLabel = "TEXT", required = true,
            description = "The prompt; \\n is a newline, \\t a tab, \\\\ a backslash. Longer than the block: its"
                    + " last blockSize characters.")
    String start;

    @Option(names = "--layer", paramLabel = "L", defaultValue = "0",
            description = "The layer, from 0 (default: ${DEFAULT-VALUE}).")
    int layer;

    @Option(names = "--out", paramLabel = "FILE.png",
            description = "Where the picture goes (default: <out-dir>/attention-layer<L>.png).")
    Path out;

    @Override
    public Integer call() throws IOException {
        Path dir = outDir != null ? outDir : Path.of(TrainConfig.preset(TrainConfig.DEFAULT_PRESET).outDir());
        if (outDir != null && ckpt != null) throw new CliException("give --out-dir or --ckpt, not both");
        Path file = ckpt != null ? ckpt : EvalCommand.runCheckpoint(outDir);
        if (ckpt != null) dir = file.toAbsolutePath().getParent();
        Checkpoint checkpoint = Checkpoint.load(file);
        int nLayer = checkpoint.modelConfig().nLayer();
        if (layer < 0 || layer >= nLayer) {
            throw new CliException("--layer " + layer + " does not exist: the model in " + file + " has " + nLayer
                    + " layer" + (nLayer == 1 ? " (0)" : "s (0 to " + (nLayer - 1) + ")"));
        }

        String prompt = unescape(start);
        if (prompt.isEmpty()) {
            throw new CliException("--start is empty: give the prompt whose attention to draw");
        }
        int[] ids;
        try {
            ids = checkpoint.tokenizer().encode(prompt);
        } catch (IllegalArgumentException e) {
            throw new CliException("--start: " + e.getMessage() + "; use only characters the model was trained on", e);
        }
        int blockSize = checkpoint.modelConfig().blockSize();
        PrintWriter console = spec.commandLine().getOut();
        if (ids.length > blockSize) {
            // As sampling does: the model sees at most blockSize tokens, the most recent ones.
            console.println("the prompt has " + ids.length + " tokens; keeping its last " + blockSize
                    + " (the block size)");
            ids = java.util.Arrays.copyOfRange(ids, ids.length - blockSize, ids.length);
            prompt = checkpoint.tokenizer().decode(ids);
        }

        Gpt model = checkpoint.newModel();
        String title = String.format("Attention in layer %d (of 0-%d), iteration %d: \"%s\"",
                layer, nLayer - 1, checkpoint.state().iter(), prompt.replace("\n", "⏎"));
        BufferedImage image = AttentionPlot.of(model, checkpoint.tokenizer(), ids, layer, title);

        Path target = out != null ? out : dir.resolve("attention-layer" + layer + ".png");
        if (Files.isDirectory(target)) {
            throw new CliException("--out " + target + " is a folder; give a file name such as "
                    + target.resolve("attention.png"));
        }
        AttentionPlot.writePng(image, target);
        console.printf("wrote %s: layer %d, %d heads, %d tokens (from %s)%n", target, layer,
                checkpoint.modelConfig().nHead(), Math.min(ids.length, blockSize), file);
        console.flush();
        return 0;
    }

    /** The escapes a shell makes awkward to type: \n, \t and \\ (any other backslash stays as it is). */
    static String unescape(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 1 < s.length()) {
                char next = s.charAt(i + 1);
                switch (next) {
                    case 'n' -> { sb.append('\n'); i++; continue; }
                    case 't' -> { sb.append('\t'); i++; continue; }
                    case '\\' -> { sb.append('\\'); i++; continue; }
                    default -> { }
                }
            }
            sb.append(c);
        }
        return sb.toString();
    }
}
