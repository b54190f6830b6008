package quill.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import quill.tokenizer.Tokenizer;
import quill.data.DatasetPreparer;
import quill.train.FineTune;
import quill.data.PreparedData;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "prepare", mixinStandardHelpOptions = true,
        description = {
                "Tokenize a UTF-8 text into DATA_DIR/DATASET/: input.txt, train.bin and val.bin (90%% / 10%% of the"
                        + " tokens, uint16 little-endian) and meta.json (vocabulary and counts).",
                "Without --input it uses the input.txt already there; for shakespeare_char it downloads Tiny"
                        + " Shakespeare when there is none.",
                "--tokenizer bpe learns a byte-level BPE vocabulary of --vocab-size ids from the first 90%% of the"
                        + " characters (the training part), as nanoGPT's data/shakespeare/prepare.py splits."})
public final class PrepareCommand implements Callable<Integer> {

    @Parameters(index = "0", arity = "0..1", paramLabel = "DATASET", defaultValue = PreparedData.DEFAULT_DATASET,
            description = "Dataset folder name (default: ${DEFAULT-VALUE}).")
    String dataset;

    @Option(names = "--input", paramLabel = "FILE",
            description = "UTF-8 text to prepare; it is copied to DATASET/input.txt.")
    Path input;

    @Option(names = "--data-dir", paramLabel = "DIR", defaultValue = PreparedData.DEFAULT_DATA_DIR,
            description = "Folder holding the dataset folders (default: ${DEFAULT-VALUE}, in the current folder).")
    Path dataDir;

    @Option(names = "--tokenizer", paramLabel = "KIND", defaultValue = "char",
            description = "char (one token per character, the default) or bpe (byte-pair encoding, as GPT-2).")
    String tokenizer;

    @Option(names = "--vocab-size", paramLabel = "V",
            description = "With --tokenizer bpe: the number of ids, 256 (the byte values) to 65536; e.g. 512, 4096.")
    Integer vocabSize;

    @Option(names = "--split-pattern", paramLabel = "NAME",
            description = "With --tokenizer bpe: how the text is cut before merging: gpt4 (default), gpt2 or none.")
    String splitPattern;

    @Option(names = "--vocab-from", paramLabel = "RUN_OR_CKPT", description = "Encode with this run's (or checkpoint's)"
            + " vocabulary, to fine-tune it with 'quill train --init-from': the same ids.")
    Path vocabFrom;

    @Option(names = "--extend-vocab", description = "With --vocab-from: append the characters its vocabulary lacks as"
            + " new ids (every old id keeps its meaning).")
    boolean extendVocab;

    @Option(names = "--val-entries", paramLabel = "N", description = "Hold out the last N dictionary entries (headword"
            + " lines such as 'WORD, n.' after a blank line) as val, instead of the last 10%% of the text.")
    Integer valEntries;

    @Option(names = "--train-entries", paramLabel = "N", description = "With --val-entries: train on the first N"
            + " entries only (default: all the others).")
    Integer trainEntries;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PreparedData data = new DatasetPreparer(spec.commandLine().getErr()).prepare(dataDir, dataset, input, bpe(),
                fineTuneSet());
        long characters = Files.readString(data.inputTxt(), StandardCharsets.UTF_8).codePoints().count();
        out.printf(Locale.ROOT, "length of dataset in characters: %,d%n", characters);
        out.printf(Locale.ROOT, "vocab size: %,d%n", data.vocabSize());
        out.printf(Locale.ROOT, "train has %,d tokens%n", data.trainTokens());
        out.printf(Locale.ROOT, "val has %,d tokens%n", data.valTokens());
        if (bpe() != null) {
            double tokens = data.trainTokens() + data.valTokens();
            out.printf(Locale.ROOT, "%.2f characters per token%n", characters / tokens);
        }
        out.printf("wrote %s: input.txt, train.bin, val.bin, meta.json%n", data.dir());
        out.flush();
        return 0;
    }

    /** The base vocabulary and entry split asked for, or null. */
    private DatasetPreparer.FineTuneSet fineTuneSet() throws IOException {
        String problem = null;
        if (extendVocab && vocabFrom == null) problem = "--extend-vocab extends --vocab-from RUN's vocabulary: give it";
        else if (trainEntries != null && valEntries == null) problem = "--train-entries needs --val-entries N";
        else if (valEntries != null && valEntries < 1) problem = "--val-entries must be at least 1, got " + valEntries;
        else if (trainEntries != null && trainEntries < 1) problem = "--train-entries must be positive, got "
                + trainEntries;
        else if (vocabFrom != null && !tokenizer.equals("char")) {
            problem = "--vocab-from brings its run's tokenizer: drop --tokenizer " + tokenizer;
        }
        if (problem != null) throw new CommandLine.ParameterException(spec.commandLine(), problem);
        if (vocabFrom == null && valEntries == null) return null;
        Tokenizer base = vocabFrom == null ? null : FineTune.open(vocabFrom).base().tokenizer();
        return new DatasetPreparer.FineTuneSet(base, extendVocab, trainEntries == null ? 0 : trainEntries,
                valEntries == null ? 0 : valEntries);
    }

    /** The BPE settings, null for char; settings that do not fit the tokenizer are usage errors. */
    private DatasetPreparer.Bpe bpe() {
        String problem = null;
        if (tokenizer.equals("char")) {
            if (vocabSize != null) problem = "--vocab-size is for --tokenizer bpe (a char vocabulary is the text's"
                    + " characters)";
            else if (splitPattern != null) problem = "--split-pattern is for --tokenizer bpe";
        } else if (!tokenizer.equals("bpe")) {
            problem = "--tokenizer must be char or bpe, got '" + tokenizer + "'";
        } else if (vocabSize == null) {
            problem = "--tokenizer bpe needs --vocab-size V (256 to 65536; e.g. 512 or 4096)";
        }
        if (problem != null) throw new CommandLine.ParameterException(spec.commandLine(), problem);
        if (vocabSize == null) return null;
        return new DatasetPreparer.Bpe(vocabSize, splitPattern == null ? "gpt4" : splitPattern);
    }
}
