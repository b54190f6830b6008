package quill.bench;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import quill.tokenizer.CharTokenizer;
import quill.train.SharedData;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Encoding all of Tiny Shakespeare (1,115,394 characters) with {@link CharTokenizer}. The text is the
 * local copy in ../shared/data, else data/shakespeare_char/input.txt; the benchmark fails without either.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "-Xmx2g")
public class TokenizerBench {

    private String corpus;
    private CharTokenizer tokenizer;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        Optional<Path> file = SharedData.tinyShakespeare();
        if (file.isEmpty()) {
            for (Path dir = Path.of("").toAbsolutePath(); dir != null && file.isEmpty(); dir = dir.getParent()) {
                Path p = dir.resolve("data/shakespeare_char/input.txt");
                if (Files.isRegularFile(p)) file = Optional.of(p);
            }
        }
        corpus = Files.readString(file.orElseThrow(() -> new IOException(
                "no Tiny Shakespeare: run 'quill prepare' (data/shakespeare_char/input.txt)"
                        + " or put it in ../shared/data")));
        tokenizer = CharTokenizer.fromCorpus(corpus);
    }

    @Benchmark
    public int[] encodeTinyShakespeare() {
        return tokenizer.encode(corpus);
    }
}
