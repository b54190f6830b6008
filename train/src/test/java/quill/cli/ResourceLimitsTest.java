package quill.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import quill.optim.AdamW;
import quill.model.Gpt;
import quill.model.GptConfig;
import quill.tokenizer.CharTokenizer;
import quill.checkpoint.Checkpoint;
import quill.checkpoint.CheckpointWriter;
import quill.train.TrainConfig;
import quill.train.TrainingState;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Limits of memory and output end in one `error:` line (or a quiet stop), never a stack trace or a JVM abort. */
class ResourceLimitsTest {

    @TempDir
    Path tmp;

    @CommandLine.Command(name = "greedy")
    static final class Greedy implements Callable<Integer> {
        @Override
        public Integer call() {
            throw new OutOfMemoryError("Java heap space");
        }
    }

    @Test
    void runningOutOfHeapIsOneLineWithTheRemedy() {
        StringWriter err = new StringWriter();
        int exit = Quill.commandLine().addSubcommand(new Greedy()).setErr(new PrintWriter(err, true)).execute("greedy");
        assertEquals(1, exit);
        assertEquals(1, err.toString().lines().count(), err.toString());
        assertTrue(err.toString().startsWith("error: out of memory (Java heap space)"), err.toString());
        assertTrue(err.toString().contains("QUILL_JAVA_OPTS=-Xmx"), err.toString());
    }

    @Test
    void aModelLargerThanTheMachineIsRefusedBeforeAllocating() throws IOException {
        Path input = Files.writeString(tmp.resolve("tiny.txt"),
                "To be, or not to be, that is the question:\n".repeat(50));
        StringWriter err = new StringWriter();
        int exit = Quill.commandLine().setOut(new PrintWriter(new StringWriter(), true))
                .setErr(new PrintWriter(err, true))
                .execute("train", "--data-dir", tmp.resolve("data").toString(), "--input", input.toString(),
                        "--dataset", "tiny", "--out-dir", tmp.resolve("out").toString(), "--n-embd", "65536",
                        "--n-head", "1", "--block-size", "16", "--batch-size", "4");
        assertEquals(1, exit, err.toString());
        assertEquals(1, err.toString().lines().count(), err.toString());
        assertTrue(err.toString().startsWith("error: this model needs at least"), err.toString());
        assertTrue(err.toString().contains("--n-embd"), err.toString());
    }

    /** {@code quill sample --max-new-tokens 2147483647 | head -c 20}: it stops when its output is closed. */
    @Test
    void samplingStopsWhenItsOutputCloses() throws IOException {
        Path run = Files.createDirectories(tmp.resolve("run"));
        String text = "To be, or not to be, that is the question:\n";
        CharTokenizer tokenizer = CharTokenizer.fromCorpus(text);
        TrainConfig config = TrainConfig.preset(TrainConfig.DEFAULT_PRESET).with(Map.of(
                "out-dir", run.toString(), "n-layer", "1", "n-head", "2", "n-embd", "16", "block-size", "8"));
        Gpt model = new Gpt(new GptConfig(tokenizer.vocabSize(), 8, 1, 2, 16, 0.0, false), 1);
        new CheckpointWriter().write(Checkpoint.best(run), config, tokenizer, new TrainingState(10, 10, 2.5,
                new quill.random.TorchGenerator(1).state(), new int[]{2}, 3), model,
                new AdamW(model.parameters(), 0.9, 0.99, 1e-8, 0.1));

        ClosedAfter stdout = new ClosedAfter(20);
        StringWriter err = new StringWriter();
        long t0 = System.nanoTime();
        int exit = Quill.commandLine().setOut(new PrintWriter(stdout, true)).setErr(new PrintWriter(err, true))
                .execute("sample", "--out-dir", run.toString(), "--max-new-tokens", "2147483647");
        assertEquals(0, exit, err.toString());
        assertTrue(stdout.writes < 100, "it went on writing: " + stdout.writes + " writes after the close");
        assertTrue((System.nanoTime() - t0) / 1e9 < 60);
        assertFalse(err.toString().contains("Exception"), err.toString());
    }

    /** A pipe whose reader has gone after {@code limit} bytes, as {@code head -c} leaves it. */
    static final class ClosedAfter extends OutputStream {
        private final int limit;
        private int bytes;
        int writes;

        ClosedAfter(int limit) {
            this.limit = limit;
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[]{(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            if (bytes >= limit) {
                writes++;
                throw new IOException("Broken pipe");
            }
            bytes += len;
        }
    }

}
