package quill.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import quill.train.DatasetPreparer;
import quill.train.PreparedData;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "prepare", mixinStandardHelpOptions = true,
        description = {
                "Tokenize a UTF-8 text into DATA_DIR/DATASET/: input.txt, train.bin and val.bin (90%% / 10%% of the"
                        + " tokens, uint16 little-endian) and meta.json (vocabulary and counts).",
                "Without --input it uses the input.txt already there; for shakespeare_char it downloads Tiny"
                        + " Shakespeare when there is none."})
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

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PreparedData data = new DatasetPreparer(spec.commandLine().getErr()).prepare(dataDir, dataset, input);
        out.printf(Locale.ROOT, "length of dataset in characters: %,d%n", data.trainTokens() + data.valTokens());
        out.printf(Locale.ROOT, "vocab size: %,d%n", data.vocabSize());
        out.printf(Locale.ROOT, "train has %,d tokens%n", data.trainTokens());
        out.printf(Locale.ROOT, "val has %,d tokens%n", data.valTokens());
        out.printf("wrote %s: input.txt, train.bin, val.bin, meta.json%n", data.dir());
        out.flush();
        return 0;
    }
}
