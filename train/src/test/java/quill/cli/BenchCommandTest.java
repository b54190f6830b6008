package quill.cli;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** quill bench on a tiny model: what it prints and how it rejects bad arguments (no timing thresholds). */
class BenchCommandTest {

    @TempDir
    Path tmp;

    private CliRun bench(String... extra) throws IOException {
        Path tiny = tmp.resolve("tiny.properties");
        Files.writeString(tiny, "n-layer = 1\nn-head = 2\nn-embd = 16\nblock-size = 16\nbatch-size = 4\n"
                + "gradient-accumulation-steps = 2\n");
        List<String> defaults = List.of("--config", tiny.toString(), "--data-dir", tmp.resolve("none").toString(),
                "--steps", "3", "--warmup", "1");
        List<String> args = new ArrayList<>(List.of("bench"));
        for (int i = 0; i < defaults.size(); i += 2) {
            if (!List.of(extra).contains(defaults.get(i))) args.addAll(defaults.subList(i, i + 2));
        }
        args.addAll(List.of(extra));
        return CliRun.quill(args.toArray(String[]::new));
    }

    @Test
    void printsTheTable() throws IOException {
        CliRun r = bench();
        assertEquals(0, r.exitCode(), r.err());
        for (String s : List.of("model:    1 layers, 2 heads, 16 embd, block 16, vocab 65; batch 4 x 2 accumulation"
                + " = 128 tokens/iter",
                "random token ids", "backend:  ND4J CPU", "1 warm-up, 3 timed", "ms/iter:  median ", "tokens/s: ",
                "GFLOP/s:  ",
                "peak RSS: ")) {
            assertTrue(r.out().contains(s), s + " missing in:\n" + r.out());
        }
    }

    @Test
    void printsOneJsonObject() throws IOException {
        CliRun r = bench("--json");
        assertEquals(0, r.exitCode(), r.err());
        JsonObject o = JsonParser.parseString(r.out()).getAsJsonObject();
        for (String field : List.of("preset", "msPerIterMedian", "msPerIterP10", "msPerIterP90", "cpuMsPerIterMedian",
                "tokensPerSecond", "flopsPerIter", "gflopsPerSecond", "peakRssBytes", "backend", "onednn", "blasVendor",
                "ompThreads", "blasThreads", "nonEmbeddingParams")) {
            assertTrue(o.has(field), field + " missing in " + r.out());
        }
        assertEquals(128, o.get("tokensPerIter").getAsLong());
        assertEquals(3, o.get("steps").getAsInt());
        assertEquals("random", o.get("data").getAsString());
        double median = o.get("msPerIterMedian").getAsDouble();
        assertTrue(median > 0 && o.get("msPerIterP10").getAsDouble() <= median
                && median <= o.get("msPerIterP90").getAsDouble(), r.out());
        // flops_per_iter = (6 N + 12 L H Q T) * T * batch * accumulation, N without the position embeddings
        long n = o.get("nonEmbeddingParams").getAsLong();
        assertEquals((6.0 * n + 12.0 * 1 * 2 * 8 * 16) * 16 * 4 * 2, o.get("flopsPerIter").getAsDouble(), 1e-6);
    }

    @Test
    void timesHealthStepsApart() throws IOException {
        CliRun r = bench("--health-interval", "2", "--steps", "6", "--json");
        assertEquals(0, r.exitCode(), r.err());
        JsonObject o = JsonParser.parseString(r.out()).getAsJsonObject();
        assertEquals(2, o.get("healthInterval").getAsInt());
        assertEquals(3, o.get("healthSteps").getAsInt());          // timed steps 1..6 after 1 warm-up: 2, 4, 6
        assertTrue(o.has("healthExtraMsMedian") && o.has("healthCostShare"), r.out());
        CliRun table = bench("--health-interval", "2", "--steps", "4");
        assertTrue(table.out().contains("health:   every 2 steps; a health step took "), table.out());
        CliRun off = bench("--health-interval", "0");
        assertTrue(off.out().contains("health:   off (--health-interval 0)"), off.out());
    }

    @Test
    void badArgumentsAreUsageErrors() throws IOException {
        for (String[] bad : List.of(new String[]{"--steps", "0"}, new String[]{"--steps", "many"},
                new String[]{"--warmup", "-1"},
                new String[]{"--threads", "0"}, new String[]{"--preset", "nope"}, new String[]{"--frobnicate"})) {
            CliRun r = bench(bad);
            assertEquals(2, r.exitCode(), String.join(" ", bad) + ": " + r.err());
            assertTrue(!r.err().contains("at quill."), "no stack trace: " + r.err());
        }
        CliRun missing = bench("--config", tmp.resolve("missing.properties").toString());
        assertEquals(1, missing.exitCode(), missing.err());
        assertTrue(missing.err().startsWith("error: no settings file at"), missing.err());
    }
}
