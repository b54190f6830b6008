package quill.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import quill.tokenizer.BpeTokenizer;
import quill.tokenizer.TokenText;
import quill.tokenizer.Tokenizer;
import quill.plot.AttentionPlot;
import quill.checkpoint.Checkpoint;
import quill.data.PreparedData;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code quill tokenize}: shows how a text splits into tokens, the ids the model sees, and how much
 * each token holds (bytes per token), with a dataset's tokenizer or a checkpoint's.
 */
@Command(name = "tokenize", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Show how a text splits into tokens: each token's id and text, and the compression"
                + " (bytes and characters per token).",
                "The tokenizer is a prepared dataset's (--dataset, default shakespeare_char) or a training run's"
                        + " (--out-dir)."},
        footer = {"", "Example: quill tokenize --dataset shakespeare_bpe512 \"ROMEO: But soft! 😀\""})
public final class TokenizeCommand implements Callable<Integer> {

    @Parameters(paramLabel = "TEXT", arity = "0..*",
            description = "The text (words are joined with spaces); \\n is a newline, \\t a tab, \\\\ a backslash.")
    String[] words;

    @Option(names = "--file", paramLabel = "FILE", description = "Tokenize this UTF-8 file instead of TEXT.")
    Path file;

    @Option(names = "--dataset", paramLabel = "NAME", description = "Use this prepared dataset's tokenizer (default: "
            + PreparedData.DEFAULT_DATASET + ").")
    String dataset;

    @Option(names = "--data-dir", paramLabel = "DIR", defaultValue = PreparedData.DEFAULT_DATA_DIR,
            description = "Folder holding the dataset folders (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(names = "--out-dir", paramLabel = "DIR",
            description = "Use the tokenizer of this training run's checkpoint instead of a dataset's.")
    Path outDir;

    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "200",
            description = "List at most N tokens (0: only the counts); the counts cover the whole text"
                    + " (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        String text = text();
        String source;
        Tokenizer tokenizer;
        if (outDir != null) {
            Path ckpt = EvalCommand.runCheckpoint(outDir);
            tokenizer = Checkpoint.load(ckpt).tokenizer();
            source = ckpt.toString();
        } else {
            String name = dataset != null ? dataset : PreparedData.DEFAULT_DATASET;
            if (!PreparedData.isPrepared(dataDir, name)) {
                throw new CliException("dataset " + name + " is not prepared in " + dataDir + ": run 'quill prepare "
                        + name + "' first, or give a training run with --out-dir");
            }
            tokenizer = PreparedData.load(dataDir, name).tokenizer();
            source = PreparedData.datasetDir(dataDir, name).resolve("meta.json").toString();
        }
        int[] ids;
        try {
            ids = tokenizer.encode(text);
        } catch (IllegalArgumentException e) { // a character tokenizer meets a character it has no id for
            throw new CliException("cannot tokenize the text: " + e.getMessage(), e);
        }

        PrintWriter out = spec.commandLine().getOut();
        out.printf(Locale.ROOT, "tokenizer: %s (%s)%n", describe(tokenizer), source);
        if (maxTokens > 0) {
            int listed = Math.min(ids.length, maxTokens);
            StringBuilder pieces = new StringBuilder();
            for (int i = 0; i < listed; i++) pieces.append('[').append(shown(tokenizer, ids[i])).append(']');
            out.println(pieces + (listed < ids.length ? " ..." : ""));
            out.printf("%7s  %s%n", "id", "token");
            for (int i = 0; i < listed; i++) out.printf(Locale.ROOT, "%7d  %s%n", ids[i], shown(tokenizer, ids[i]));
            if (listed < ids.length) out.printf(Locale.ROOT, "... %,d more%n", ids.length - listed);
        }
        long characters = text.codePoints().count();
        int bytes = text.getBytes(StandardCharsets.UTF_8).length;
        out.printf(Locale.ROOT, "%,d characters, %,d bytes, %,d tokens: %.2f bytes per token, %.2f characters per"
                + " token%n", characters, bytes, ids.length, bytes / (double) ids.length,
                characters / (double) ids.length);
        out.flush();
        return 0;
    }

    private String text() throws IOException {
        if (file != null && words != null) throw usage("give the text or --file, not both");
        if (maxTokens < 0) throw usage("--max-tokens must be at least 0, got " + maxTokens);
        if (outDir != null && dataset != null) throw usage("give --dataset or --out-dir, not both");
        String text;
        if (file != null) {
            if (!Files.isRegularFile(file)) throw new CliException("--file " + file + ": no such file");
            text = Files.readString(file, StandardCharsets.UTF_8);
        } else if (words != null) {
            text = AttentionCommand.unescape(String.join(" ", words));
        } else {
            throw usage("give the text to tokenize, e.g. quill tokenize \"ROMEO: But soft!\", or --file FILE");
        }
        if (text.isEmpty()) throw new CliException("the text is empty: there is nothing to tokenize");
        return text;
    }

    /** A token as the listing shows it: white space made visible, a piece of a character as its bytes. */
    private static String shown(Tokenizer tokenizer, int id) {
        return AttentionPlot.label(TokenText.of(tokenizer.bytes(id)));
    }

    private static String describe(Tokenizer tokenizer) {
        if (tokenizer instanceof BpeTokenizer bpe) {
            return String.format(Locale.ROOT, "bpe, %,d ids, %s split", bpe.vocabSize(), bpe.splitPattern());
        }
        return String.format(Locale.ROOT, "char, %,d ids", tokenizer.vocabSize());
    }

    private CommandLine.ParameterException usage(String message) {
        return new CommandLine.ParameterException(spec.commandLine(), message);
    }
}
