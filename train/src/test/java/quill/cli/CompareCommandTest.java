package quill.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code quill compare} as a user types it, on runs of {@code quill train}. */
class CompareCommandTest {

    @Test
    void comparesTwoRunsAndRefusesWhatIsNotARun(@TempDir Path tmp) throws Exception {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, "To be, or not to be, that is the question.\n".repeat(200));
        String[] common = {"--dataset", "t", "--input", text.toString(), "--data-dir", tmp.resolve("data").toString(),
                "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4",
                "--max-iters", "6", "--eval-interval", "3", "--eval-iters", "1", "--warmup-iters", "2",
                "--lr-decay-iters", "6"};
        assertEquals(0, train(common, tmp.resolve("a")).exitCode());
        assertEquals(0, train(common, tmp.resolve("b"), "--mlp", "relu2", "--qk-norm").exitCode());

        Path png = tmp.resolve("cmp.png");
        CliRun run = CliRun.quill("compare", tmp.resolve("a").toString(), tmp.resolve("b").toString(),
                "--out", png.toString());
        assertEquals(0, run.exitCode(), run.err());
        assertTrue(run.out().contains("b    mlp=relu2 qk-norm=true"), run.out());
        assertTrue(Files.size(png) > 10_000);
        CliRun json = CliRun.quill("compare", tmp.resolve("a").toString(), tmp.resolve("b").toString(),
                "--out", png.toString(), "--json");
        assertTrue(json.out().contains("\"mlp\": \"gelu\"") && json.out().contains("\"best_val_loss\""), json.out());

        CliRun notARun = CliRun.quill("compare", tmp.resolve("a").toString(), tmp.toString(), "--out", png.toString());
        assertEquals(1, notARun.exitCode());
        assertEquals("error: " + tmp + " is not a training run: it lacks config.properties or metrics.jsonl",
                notARun.err().strip());
        Files.writeString(tmp.resolve("a").resolve("metrics.jsonl"), "");
        CliRun noEvals = CliRun.quill("compare", tmp.resolve("a").toString(), "--out", png.toString());
        assertEquals(1, noEvals.exitCode());
        assertTrue(noEvals.err().strip().endsWith("has no evals in metrics.jsonl yet: nothing to compare"),
                noEvals.err());
    }

    @Test
    void anUnknownSwitchValueIsAUsageError(@TempDir Path tmp) {
        CliRun run = CliRun.quill("train", "--norm", "batchnorm", "--out-dir", tmp.resolve("x").toString());
        assertEquals(2, run.exitCode());
        assertTrue(run.err().contains("setting norm must be one of layernorm, rmsnorm, got 'batchnorm'"), run.err());
    }

    private static CliRun train(String[] common, Path out, String... more) {
        String[] args = new String[common.length + more.length + 3];
        args[0] = "train";
        System.arraycopy(common, 0, args, 1, common.length);
        System.arraycopy(more, 0, args, 1 + common.length, more.length);
        args[args.length - 2] = "--out-dir";
        args[args.length - 1] = out.toString();
        return CliRun.quill(args);
    }
}
