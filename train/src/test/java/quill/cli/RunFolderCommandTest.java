package quill.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import quill.checkpoint.Checkpoint;
import quill.data.PreparedData;
import quill.checkpoint.RunLock;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `quill train` and a run folder: one process at a time, and a refused command changes nothing. */
class RunFolderCommandTest {

    static final String TEXT = "To be, or not to be, that is the question:\n";

    @TempDir
    Path tmp;

    private Path out() {
        return tmp.resolve("out");
    }

    private CliRun train(String... extra) throws IOException {
        Path input = tmp.resolve("tiny.txt");
        if (!Files.exists(input)) Files.writeString(input, TEXT.repeat(50));
        List<String> defaults = List.of("--data-dir", tmp.resolve("data").toString(),
                "--input", input.toString(), "--dataset", "tiny", "--out-dir", out().toString(),
                "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4",
                "--eval-interval", "3", "--eval-iters", "2", "--warmup-iters", "2", "--lr-decay-iters", "10");
        List<String> args = new ArrayList<>(List.of("train"));
        for (int i = 0; i < defaults.size(); i += 2) {
            if (!List.of(extra).contains(defaults.get(i))) args.addAll(defaults.subList(i, i + 2));
        }
        args.addAll(List.of(extra));
        return CliRun.quill(args.toArray(String[]::new));
    }

    @Test
    void aFolderInUseIsRefusedNamingTheProcess() throws IOException {
        assertEquals(0, train("--max-iters", "3").exitCode());
        Map<String, String> before = snapshot(out());
        try (RunLock held = RunLock.acquire(out(), "quill train")) {
            CliRun second = train("--resume", "--max-iters", "6");
            assertEquals(1, second.exitCode(), second.err());
            assertTrue(second.err().startsWith("error: " + out() + " is in use by process "
                    + ProcessHandle.current().pid()), second.err());
            assertEquals(before, snapshot(out()));
        }
        assertEquals(0, train("--resume", "--max-iters", "6").exitCode(), "a released lock does not block");
    }

    @Test
    void aRefusedResumeChangesNothing() throws IOException {
        assertEquals(0, train("--max-iters", "3").exitCode());
        Map<String, String> before = snapshot(out());
        CliRun refused = train("--resume", "--max-iters", "6", "--n-embd", "32");
        assertEquals(1, refused.exitCode(), refused.err());
        assertTrue(refused.err().contains("n-embd 16 but the settings say 32"), refused.err());
        assertEquals(before, snapshot(out()));
    }

    @Test
    void resumingAFinishedRunSaysThereIsNothingToDo() throws IOException {
        assertEquals(0, train("--max-iters", "3").exitCode());
        Map<String, String> before = snapshot(out());
        for (String maxIters : List.of("3", "2")) {
            CliRun again = train("--resume", "--max-iters", maxIters);
            assertEquals(0, again.exitCode(), again.err());
            assertTrue(again.out().contains("nothing to do: the run in " + out() + " has done 3 iterations"),
                    again.out());
            assertFalse(again.out().contains("done:"), again.out());
            assertEquals(before, snapshot(out()));
        }
    }

    /**
     * A run killed after its last checkpoint but before its end (the whole val split, the closing lines): --resume
     * finishes it instead of saying there is nothing to do; once finished, it says so and removes what killed
     * processes left.
     */
    @Test
    void aRunKilledAfterItsLastCheckpointIsFinishedByResume() throws IOException {
        assertEquals(0, train("--max-iters", "3").exitCode());
        Path metrics = out().resolve("metrics.jsonl");
        List<String> lines = Files.readAllLines(metrics);
        List<String> withoutEnd = lines.stream().filter(l -> !l.contains("full_val_loss")).toList();
        assertEquals(lines.size() - 1, withoutEnd.size(), "the finished run records the whole val split once");
        Files.write(metrics, withoutEnd);                                  // as a kill before the end leaves it
        CliRun finish = train("--resume", "--max-iters", "3");
        assertEquals(0, finish.exitCode(), finish.err());
        assertTrue(finish.out().contains("was stopped after its last checkpoint (iteration 3) and before its end:"
                + " finishing it"), finish.out());
        assertTrue(finish.out().contains("full val split"), finish.out());
        assertEquals(lines.size(), Files.readAllLines(metrics).size());
        assertTrue(Files.readAllLines(metrics).get(lines.size() - 1).contains("full_val_loss"));

        Path leftover = out().resolve(".loss.png." + quill.train.TinyRun.deadPid() + "-2.tmp");
        Files.writeString(leftover, "a killed run's half-written picture");
        CliRun again = train("--resume", "--max-iters", "3");
        assertTrue(again.out().contains("nothing to do"), again.out());
        assertFalse(Files.exists(leftover), "a finished run's folder keeps no leftovers");
    }

    /**
     * A kill during a run's first save leaves ckpt-best.zip (written first) without ckpt-last.zip (its copy):
     * --resume continues from ckpt-best.zip, which holds the same state, and the run ends as it would have.
     */
    @Test
    void aKillDuringTheFirstSaveLeavesARunThatResumes() throws IOException {
        assertEquals(0, train("--max-iters", "3").exitCode());
        List<String> uninterrupted = Files.readAllLines(out().resolve("metrics.jsonl"));
        Path run = out();
        Files.delete(Checkpoint.last(run));
        CliRun resumed = train("--resume", "--max-iters", "6");
        assertEquals(0, resumed.exitCode(), resumed.err());
        assertTrue(resumed.out().contains("note: " + run + " has ckpt-best.zip but no ckpt-last.zip (a run was killed"
                + " during its first save): resuming from ckpt-best.zip"), resumed.out());
        assertTrue(Files.isRegularFile(Checkpoint.last(run)));
        assertTrue(Files.readAllLines(out().resolve("metrics.jsonl")).containsAll(uninterrupted.subList(0, 3)));
    }

    /** The checkpoint records which text it trained on; resuming on another is refused unless asked for. */
    @Test
    void resumingOnChangedDataIsRefusedUnlessAllowed() throws IOException {
        assertEquals(0, train("--max-iters", "3").exitCode());
        String trainedOn = PreparedData.load(tmp.resolve("data"), "tiny").sourceSha256();
        assertEquals(trainedOn, Checkpoint.load(Checkpoint.last(out())).sourceSha256());

        Path other = Files.writeString(tmp.resolve("other.txt"),
                "To be, or not to be: that is the question,\n".repeat(40));
        CliRun prepare = CliRun.quill("prepare", "tiny", "--input", other.toString(),
                "--data-dir", tmp.resolve("data").toString());
        assertEquals(0, prepare.exitCode(), prepare.err());
        Map<String, String> before = snapshot(out());
        CliRun refused = train("--resume", "--max-iters", "6");
        assertEquals(1, refused.exitCode(), refused.err());
        assertTrue(refused.err().contains("the text of dataset tiny changed since"), refused.err());
        assertTrue(refused.err().contains("--allow-data-change"), refused.err());
        assertEquals(before, snapshot(out()));

        CliRun allowed = train("--resume", "--max-iters", "6", "--allow-data-change");
        assertEquals(0, allowed.exitCode(), allowed.err());
        assertTrue(allowed.out().contains("note: dataset tiny changed"), allowed.out());
        String now = PreparedData.load(tmp.resolve("data"), "tiny").sourceSha256();
        assertNotEquals(trainedOn, now);
        assertEquals(now, Checkpoint.load(Checkpoint.last(out())).sourceSha256());
    }

    static Map<String, String> snapshot(Path dir) throws IOException {
        Map<String, String> files = new TreeMap<>();
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.filter(Files::isRegularFile).filter(p -> !p.endsWith(".quill.lock")).toList()) {
                files.put(dir.relativize(p).toString(),
                        java.util.Arrays.hashCode(Files.readAllBytes(p)) + ":" + Files.size(p));
            }
        }
        return files;
    }
}
