package quill.data;

import quill.train.TinyRun;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Preparing a dataset again never leaves it unusable, and cleans up what a killed preparation left. */
class PrepareSafetyTest {

    @TempDir
    Path tmp;

    /** A full disk half-way through a new preparation: the old dataset is still prepared, and whole. */
    @Test
    void aFailedPrepareKeepsTheOldDatasetUsable() throws IOException {
        Path dataDir = tmp.resolve("data");
        PreparedData old = TinyRun.prepare(dataDir);
        byte[] oldTrain = Files.readAllBytes(old.trainBin());
        DatasetPreparer full = new DatasetPreparer(new PrintWriter(new StringWriter()));
        full.writer = (file, bytes) -> {
            if (file.getFileName().toString().startsWith(".val.bin")) {
                Files.write(file, Arrays.copyOf(bytes, bytes.length / 2));
                throw new IOException("No space left on device");
            }
            Files.write(file, bytes);
        };
        Path other = Files.writeString(tmp.resolve("other.txt"), "Another text, of other letters: xyz.\n".repeat(30));
        assertThrows(IOException.class, () -> full.prepare(dataDir, "tiny", other));

        PreparedData again = PreparedData.load(dataDir, "tiny");
        assertEquals(old.sourceSha256(), again.sourceSha256());
        assertEquals(old.tokenizer().toJson(), again.tokenizer().toJson());
        assertArrayEquals(oldTrain, Files.readAllBytes(again.trainBin()));
        assertEquals(TinyRun.TEXT.repeat(40), Files.readString(again.inputTxt()));
        assertEquals(Set.of("input.txt", "train.bin", "val.bin", "meta.json"), names(old.dir()),
                "no temporary file is left");
    }

    @Test
    void preparingRemovesTheLeftoversOfAKilledPrepareAndNothingElse() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("data").resolve("tiny"));
        long dead = TinyRun.deadPid();
        for (String name : List.of(".train.bin.1f2e3d.tmp", ".val.bin." + dead + "-aa.tmp",
                ".meta.json." + dead + "-1.tmp", ".input.txt.77.tmp")) {
            Files.write(dir.resolve(name), new byte[100]);
        }
        List<String> kept = List.of("notes.tmp", ".train.bin." + ProcessHandle.current().pid() + "-5.tmp",
                "train.bin.tmp");
        for (String name : kept) Files.writeString(dir.resolve(name), "mine");
        TinyRun.prepare(tmp.resolve("data"));
        Set<String> expected = new TreeSet<>(kept);
        expected.addAll(List.of("input.txt", "train.bin", "val.bin", "meta.json"));
        assertEquals(expected, names(dir));
    }

    private static Set<String> names(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return new TreeSet<>(files.map(p -> p.getFileName().toString()).toList());
        }
    }
}
