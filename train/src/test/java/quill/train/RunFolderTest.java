package quill.train;

import quill.checkpoint.Checkpoint;
import quill.checkpoint.CheckpointWriter;
import quill.data.PreparedData;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import quill.autograd.Parameter;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A run folder stays whole and consistent whatever moment a run is killed or refused. */
class RunFolderTest {

    @TempDir
    Path tmp;

    /** Resuming rewrites metrics.jsonl beside it and renames it into place: the old file is never cut in place. */
    @Test
    void resumingNeverTruncatesMetricsInPlace() throws IOException {
        Path file = tmp.resolve("metrics.jsonl");
        String old = "{\"iter\":0,\"loss\":4.1,\"lr\":0.001,\"ms\":1.0,\"tokens_per_s\":9.0}\n"
                + "{\"iter\":1,\"loss\":4.0,\"lr\":0.001,\"ms\":1.0,\"tokens_per_s\":9.0}\n";
        Files.writeString(file, old);
        Path link = tmp.resolve("old-inode");
        Files.createLink(link, file); // sees whatever is done to the old file's bytes
        try (MetricsLog log = MetricsLog.resume(file, 1, -1)) {
            log.flush();
        }
        assertEquals(old, Files.readString(link), "the old file was changed in place (a kill could leave it empty)");
        assertEquals(1, TinyRun.steps(tmp).size());
        try (Stream<Path> files = Files.list(tmp)) {
            assertEquals(2, files.count(), "no temporary file is left");
        }
    }

    /**
     * A kill between writing ckpt-best.zip and ckpt-last.zip
     * never leaves ckpt-best.zip worse than what last records.
     */
    @Test
    void ckptBestIsNeverOlderThanTheBestThatCkptLastRecords() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Path straight = tmp.resolve("straight");
        TinyRun.trainer(TinyRun.config(straight, 20), data, new StringWriter()).run(null);

        Path out = tmp.resolve("out");
        Trainer t = TinyRun.trainer(TinyRun.config(out, 20), data, new StringWriter());
        // streams 1 and 2: the two files at eval 5; stream 4: the second file at eval 10
        AtomicInteger streams = new AtomicInteger();
        t.writer = new CheckpointWriter(o -> streams.incrementAndGet() == 4 ? new Dying(o) : o);
        assertThrows(IOException.class, () -> t.run(null));
        Checkpoint last = Checkpoint.load(Checkpoint.last(out));
        Checkpoint best = Checkpoint.load(Checkpoint.best(out));
        assertTrue(best.state().bestValLoss() <= last.state().bestValLoss(),
                "ckpt-best.zip has val loss " + best.state().bestValLoss() + " but ckpt-last.zip records a best of "
                        + last.state().bestValLoss());

        TinyRun.trainer(TinyRun.config(out, 20), data, new StringWriter()).run(last);
        double bestStraight = Checkpoint.load(Checkpoint.best(straight)).state().bestValLoss();
        assertEquals(bestStraight, Checkpoint.load(Checkpoint.best(out)).state().bestValLoss(), 1e-6);
        assertEquals(bestStraight, Checkpoint.load(Checkpoint.last(out)).state().bestValLoss(), 1e-6);
    }

    /** A NaN that first appears in an eval ends the run with the divergence message, not a JSON error. */
    @Test
    void aNanInAnEvalIsDivergence() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Path out = tmp.resolve("out");
        Trainer t = TinyRun.trainer(TinyRun.config(out, 20), data, new StringWriter());
        t.afterStep(iter -> {
            if (iter == 9) { // the eval at 10 comes before step 10
                Parameter p = t.model.parameters().values().iterator().next();
                p.value().putScalar(0, Float.NaN);
            }
        });
        Trainer.DivergedException e = assertThrows(Trainer.DivergedException.class, () -> t.run(null));
        assertTrue(e.getMessage().contains("became NaN in the eval at iteration 10"), e.getMessage());
        assertTrue(e.getMessage().contains("ckpt-last.zip"), e.getMessage());
        assertEquals(5, Checkpoint.load(Checkpoint.last(out)).state().iter());
        assertTrue(Files.readAllLines(out.resolve("metrics.jsonl")).stream().noneMatch(l -> l.contains("NaN")));
    }

    /** A resume refused for its settings leaves every file of the run folder as it was. */
    @Test
    void aRefusedResumeChangesNothing() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Path out = tmp.resolve("out");
        TinyRun.trainer(TinyRun.config(out, 5), data, new StringWriter()).run(null);
        Map<String, String> before = snapshot(out);
        Checkpoint ckpt = Checkpoint.load(Checkpoint.last(out));
        TrainConfig deeper = TinyRun.config(out, 10).with(Map.of("n-layer", "2"));
        assertThrows(IllegalArgumentException.class, () -> TinyRun.trainer(deeper, data, new StringWriter()).run(ckpt));
        assertEquals(before, snapshot(out));
    }

    /** What killed runs leave (temporary files of dead processes, of earlier Quills) goes; nothing else does. */
    @Test
    void aRunRemovesTheLeftoversOfKilledRunsAndNothingElse() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Path out = Files.createDirectories(tmp.resolve("out"));
        long dead = TinyRun.deadPid();
        long live = ProcessHandle.current().pid();
        for (String name : java.util.List.of(".ckpt-last.zip.1a2b3c4d.tmp", ".ckpt-best.zip." + dead + "-ff.tmp",
                ".metrics.jsonl." + dead + "-1.tmp", ".config.properties.9f.tmp", ".loss.png." + dead + "-2.tmp",
                ".ckpt-staging-" + dead + "-123/model/a.npy", ".ckpt-staging4567/optimizer/b.npy")) {
            Files.createDirectories(out.resolve(name).getParent());
            Files.write(out.resolve(name), new byte[1000]);
        }
        java.util.List<String> kept = java.util.List.of("notes.tmp", ".ckpt-last.zip." + live + "-ab.tmp",
                "my.ckpt-last.zip.tmp", ".ckpt-last.zip.notes.tmp", ".ckpt-staging-" + live + "-9/x");
        for (String name : kept) {
            Files.createDirectories(out.resolve(name).getParent());
            Files.writeString(out.resolve(name), "mine");
        }
        StringWriter console = new StringWriter();
        TinyRun.trainer(TinyRun.config(out, 5), data, console).run(null);
        java.util.Set<String> left = snapshot(out).keySet();
        for (String name : kept) assertTrue(left.contains(name), name + " was removed");
        assertEquals(new java.util.TreeSet<>(java.util.List.of("ckpt-best.zip", "ckpt-last.zip", "config.properties",
                "loss.png", "metrics.jsonl")),
                new java.util.TreeSet<>(left.stream().filter(n -> !kept.contains(n)).toList()));
        assertFalse(Files.exists(out.resolve(".ckpt-staging4567")), "an empty staging folder is left");
        assertTrue(console.toString().contains("removed 7 temporary files (7 KB) left by killed runs"),
                console.toString());
    }

    /** Every file's name and content (as text of its bytes' hash), to compare a folder before and after. */
    static Map<String, String> snapshot(Path dir) throws IOException {
        Map<String, String> files = new TreeMap<>();
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.filter(Files::isRegularFile).toList()) {
                files.put(dir.relativize(p).toString(),
                        java.util.Arrays.toString(Files.readAllBytes(p)).hashCode() + ":" + Files.size(p));
            }
        }
        return files;
    }

    /** An output stream that fails at its first write, as a kill or a full disk would stop a file. */
    static final class Dying extends FilterOutputStream {
        Dying(OutputStream out) {
            super(out);
        }

        @Override
        public void write(int b) throws IOException {
            throw new IOException("no space left on device");
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            throw new IOException("no space left on device");
        }
    }
}
