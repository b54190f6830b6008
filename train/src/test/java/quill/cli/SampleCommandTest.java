package quill.cli;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.factory.Nd4j;
import quill.autograd.Parameter;
import quill.optim.AdamW;
import quill.model.Gpt;
import quill.model.GptConfig;
import quill.tokenizer.CharTokenizer;
import quill.checkpoint.Checkpoint;
import quill.checkpoint.CheckpointWriter;
import quill.train.TrainConfig;
import quill.train.TrainingState;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code quill sample} on a tiny checkpoint written by the test (block size 8, so samples run far past it). */
class SampleCommandTest {
    private static final String TEXT = "To be, or not to be, that is the question:\n";

    @TempDir
    Path tmp;
    private Path run;

    @BeforeEach
    void writeCheckpoint() throws IOException {
        run = tmp.resolve("run");
        Files.createDirectories(run);
        CharTokenizer tokenizer = CharTokenizer.fromCorpus(TEXT);
        TrainConfig config = TrainConfig.preset(TrainConfig.DEFAULT_PRESET).with(Map.of(
                "out-dir", run.toString(), "n-layer", "2", "n-head", "2", "n-embd", "16", "block-size", "8"));
        Gpt model = new Gpt(new GptConfig(tokenizer.vocabSize(), 8, 2, 2, 16, 0.0, false), 1);
        Nd4j.getRandom().setSeed(1);
        for (Parameter p : model.parameters().values()) p.value().addi(
                Nd4j.randn(p.value().dataType(), p.value().shape()).muli(0.3));
        AdamW optimizer = new AdamW(model.parameters(), 0.9, 0.99, 1e-8, 0.1);
        new CheckpointWriter().write(Checkpoint.best(run), config, tokenizer, new TrainingState(10, 10, 2.5,
                new quill.random.TorchGenerator(1).state(), new int[]{2}, 3), model, optimizer);
    }

    /** {@code quill sample --out-dir <run> --max-new-tokens 30} plus {@code extra}. */
    private CliRun sample(String... extra) {
        List<String> args = new ArrayList<>(List.of("sample", "--out-dir", run.toString(), "--max-new-tokens", "30"));
        args.addAll(List.of(extra));
        return CliRun.quill(args.toArray(String[]::new));
    }

    @Test
    void streamsSamplesSeparatedAsNanoGptDoesAndTheSameSeedGivesTheSameText() {
        CliRun r = sample("--num-samples", "3", "--start", "To");
        assertEquals(0, r.exitCode(), r.err());
        String[] samples = r.out().split(SampleCommand.SEPARATOR + "\n", -1);
        assertEquals(4, samples.length, r.out()); // three samples, each followed by the separator
        for (int i = 0; i < 3; i++) {
            assertTrue(samples[i].startsWith("To"), samples[i]);
            assertEquals(2 + 30 + 1, samples[i].length(), samples[i]); // prompt, 30 characters, newline
        }
        assertEquals("", samples[3]);
        assertTrue(r.err().contains("checkpoint " + Checkpoint.best(run)), r.err());
        assertTrue(r.err().contains("90 tokens in"), r.err());

        assertEquals(r.out(), sample("--num-samples", "3", "--start", "To").out());
        assertNotEquals(r.out(), sample("--num-samples", "3", "--start", "To", "--seed", "1").out());
    }

    @Test
    void withoutTheKvCacheTheTextIsTheSame() {
        CliRun cached = sample("--num-samples", "2", "--top-p", "0.9");
        CliRun full = sample("--num-samples", "2", "--top-p", "0.9", "--no-kv-cache");
        assertEquals(0, full.exitCode(), full.err());
        assertEquals(cached.out(), full.out());
        assertTrue(full.err().contains("no KV cache"), full.err());
    }

    @Test
    void twoThreadsGiveTheSameText() {
        CliRun one = sample("--num-samples", "2");
        CliRun two = sample("--num-samples", "2", "--threads", "2");
        assertEquals(0, two.exitCode(), two.err());
        assertEquals(one.out(), two.out());
    }

    @Test
    void aLargerKvSlideStillGeneratesAndIsCheckedAgainstTheBlockSize() {
        CliRun r = sample("--num-samples", "1", "--kv-slide", "4");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.err().contains("slide 4"), r.err());
        CliRun tooBig = sample("--kv-slide", "9");
        assertEquals(2, tooBig.exitCode(), tooBig.err());
        assertTrue(tooBig.err().contains("--kv-slide must be at most the model's block size, 8"), tooBig.err());
    }

    @Test
    void topKZeroKeepsEveryTokenAsAVocabularySizedK() {
        CliRun all = sample("--num-samples", "1", "--top-k", "0");
        assertEquals(0, all.exitCode(), all.err());
        assertEquals(all.out(), sample("--num-samples", "1", "--top-k", "1000").out());
    }

    @Test
    void temperatureZeroIsGreedyWhateverTheSeed() {
        CliRun a = sample("--num-samples", "1", "--temperature", "0", "--seed", "1");
        CliRun b = sample("--num-samples", "1", "--temperature", "0", "--seed", "2");
        assertEquals(0, a.exitCode(), a.err());
        assertEquals(a.out(), b.out());
    }

    @Test
    void aPromptFromAFileLongerThanTheBlockIsCropped() throws IOException {
        Path prompt = Files.writeString(tmp.resolve("prompt.txt"), TEXT);
        Path tail = Files.writeString(tmp.resolve("tail.txt"), TEXT.substring(TEXT.length() - 8));
        CliRun whole = sample("--num-samples", "1", "--start", "FILE:" + prompt);
        CliRun cropped = sample("--num-samples", "1", "--start", "FILE:" + tail);
        assertEquals(0, whole.exitCode(), whole.err());
        assertTrue(whole.out().startsWith(TEXT), whole.out());
        // only the last 8 characters condition the first token, and the same seed draws the same
        assertEquals(whole.out().substring(TEXT.length()), cropped.out().substring(8));
    }

    @Test
    void fallsBackToTheLastCheckpointWhenThereIsNoBest() throws IOException {
        Files.move(Checkpoint.best(run), Checkpoint.last(run));
        CliRun r = sample("--num-samples", "1");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.err().contains("checkpoint " + Checkpoint.last(run)), r.err());
    }

    @Test
    void settingsOutOfRangeAreUsageErrors() {
        String[][] cases = {
                {"--temperature", "-0.5", "--temperature must be 0 (greedy) or positive"},
                {"--top-k", "-1", "--top-k must be at least 0"},
                {"--top-p", "0", "--top-p must be in (0, 1]"},
                {"--top-p", "1.01", "--top-p must be in (0, 1]"},
                {"--num-samples", "0", "--num-samples must be at least 1"},
                {"--max-new-tokens", "0", "--max-new-tokens must be at least 1"},
                {"--kv-slide", "0", "--kv-slide must be at least 1"},
                {"--top-k", "many", "Invalid value for option '--top-k'"},
        };
        for (String[] c : cases) {
            CliRun r = CliRun.quill("sample", "--out-dir", run.toString(), c[0], c[1]);
            assertEquals(2, r.exitCode(), String.join(" ", c) + ": " + r.err());
            assertTrue(r.err().contains(c[2]), r.err());
            assertEquals("", r.out());
        }
    }

    @Test
    void aCharacterOutsideTheVocabularyIsNamed() {
        CliRun r = sample("--start", "To bé");
        assertEquals(1, r.exitCode(), r.err());
        assertTrue(r.err().startsWith("error: cannot encode the start text: character 'é'"), r.err());
        assertTrue(r.err().contains("U+00E9"), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
    }

    @Test
    void aMissingPromptFileIsNamed() {
        Path missing = tmp.resolve("nope.txt");
        CliRun r = sample("--start", "FILE:" + missing);
        assertEquals(1, r.exitCode(), r.err());
        assertTrue(r.err().startsWith("error: --start FILE:" + missing + ": no file at " + missing), r.err());
    }

    @Test
    void aMissingCheckpointIsNamed() {
        Path empty = tmp.resolve("empty");
        CliRun r = CliRun.quill("sample", "--out-dir", empty.toString());
        assertEquals(1, r.exitCode(), r.err());
        assertTrue(r.err().startsWith("error: no checkpoint in " + empty), r.err());
        assertTrue(r.err().contains("quill train"), r.err());
    }

    @Test
    void aPartialOrCorruptCheckpointIsNamed() throws IOException {
        Path file = Checkpoint.best(run);
        byte[] bytes = Files.readAllBytes(file);

        Files.write(file, java.util.Arrays.copyOf(bytes, bytes.length / 2)); // a partial copy
        CliRun partial = sample();
        assertEquals(1, partial.exitCode(), partial.err());
        assertTrue(partial.err().startsWith("error: checkpoint " + file + " is incomplete or corrupt"), partial.err());

        byte[] damaged = bytes.clone();
        damaged[bytes.length / 3] ^= 0x55; // one flipped byte inside the weights
        Files.write(file, damaged);
        CliRun corrupt = sample();
        assertEquals(1, corrupt.exitCode(), corrupt.err());
        assertTrue(corrupt.err().contains(file.toString()), corrupt.err());
        assertEquals(1, corrupt.err().lines().count(), corrupt.err());

        Files.writeString(file, "not a zip");
        CliRun garbage = sample();
        assertEquals(1, garbage.exitCode(), garbage.err());
        assertTrue(garbage.err().contains(file.toString()), garbage.err());
    }

    /** A prompt file that is not UTF-8 (here Latin-1) is one line naming the file, by --prompt-file or FILE:. */
    @Test
    void aPromptFileThatIsNotUtf8IsAClearError() throws IOException {
        Path latin1 = Files.write(tmp.resolve("latin1.txt"), new byte[]{'T', 'o', (byte) 0xE9});
        CliRun r = sample("--prompt-file", latin1.toString());
        assertEquals(1, r.exitCode());
        assertEquals("error: --prompt-file " + latin1 + ": " + latin1 + " is not UTF-8 text; save it as UTF-8",
                r.err().strip());
        CliRun prefixed = sample("--start", "FILE:" + latin1);
        assertEquals(1, prefixed.exitCode());
        assertTrue(prefixed.err().startsWith("error: --start FILE:" + latin1 + ": " + latin1 + " is not UTF-8"),
                prefixed.err());
        Path utf8 = Files.writeString(tmp.resolve("utf8.txt"), "To");
        assertEquals(sample("--start", "To").out(), sample("--prompt-file", utf8.toString()).out());
    }

    /** The stderr lines' numbers, made without Formatter, are written as {@code %.Nf} writes them, ties included. */
    @Test
    void fixedDecimalsAreFormattersOwn() {
        double[] values = {1.8857, 1.88575, 0.125, 0.005, 2.5, 0.7012, 712.5, 1e-7, 123456789.987654, 0, 0.045};
        for (double x : values) {
            for (int decimals = 0; decimals <= 4; decimals++) {
                assertEquals(String.format(java.util.Locale.ROOT, "%." + decimals + "f", x),
                        SampleCommand.fixed(x, decimals), x + " to " + decimals);
            }
        }
        java.util.Random random = new java.util.Random(1);
        for (int i = 0; i < 20_000; i++) {
            double x = random.nextDouble() * Math.pow(10, random.nextInt(9) - 3);
            int decimals = random.nextInt(5);
            assertEquals(String.format(java.util.Locale.ROOT, "%." + decimals + "f", x),
                    SampleCommand.fixed(x, decimals), x + " to " + decimals);
        }
        assertEquals("NaN", SampleCommand.fixed(Double.NaN, 2));
        assertEquals("Infinity", SampleCommand.fixed(Double.POSITIVE_INFINITY, 2));
    }

    /** The start-up time counts from the launcher's start when it passes one, else from the JVM's. */
    @Test
    void startUpCountsFromTheLaunchersStart() {
        String before = System.getProperty("quill.launched");
        try {
            long twoSecondsAgo = (System.currentTimeMillis() - 2000) * 1000;       // microseconds, as ./quill gives
            System.setProperty("quill.launched", Long.toString(twoSecondsAgo));
            double seconds = SampleCommand.secondsSinceLaunch();
            assertTrue(seconds >= 2 && seconds < 3, "since the launcher: " + seconds);
            System.setProperty("quill.launched", "not a time");                   // not the launcher's: the JVM's
            double jvm = SampleCommand.secondsSinceLaunch();
            assertEquals(java.lang.management.ManagementFactory.getRuntimeMXBean().getUptime() / 1000.0, jvm, 1);
        } finally {
            if (before == null) System.clearProperty("quill.launched");
            else System.setProperty("quill.launched", before);
        }
    }
}
