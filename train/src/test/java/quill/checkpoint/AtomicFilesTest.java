package quill.checkpoint;

import quill.train.MetricsLog;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Writing never destroys what is not a regular file: a symbolic link, a pipe, a device, a folder. */
class AtomicFilesTest {

    @TempDir
    Path tmp;

    @Test
    void aSymbolicLinkIsNeitherReplacedNorFollowed() throws IOException {
        Path real = Files.writeString(tmp.resolve("real.png"), "precious");
        Path link = Files.createSymbolicLink(tmp.resolve("link.png"), real);
        IOException e = assertThrows(IOException.class, () -> AtomicFiles.write(link, new byte[]{1}));
        assertEquals("cannot write " + link + ": it is a symbolic link; Quill writes only regular files (write to the"
                + " file it points to, or choose another name)", e.getMessage());
        assertTrue(Files.isSymbolicLink(link));
        assertEquals("precious", Files.readString(real));
        assertThrows(IOException.class, () -> MetricsLog.create(link));
        assertThrows(IOException.class, () -> MetricsLog.resume(link, 0, -1));
        assertTrue(Files.isSymbolicLink(link));
        assertEquals("precious", Files.readString(real));
    }

    @Test
    void aPipeOrAFolderIsNotReplaced() throws IOException, InterruptedException {
        Path fifo = tmp.resolve("fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        IOException e = assertThrows(IOException.class, () -> AtomicFiles.write(fifo, new byte[]{1}));
        assertTrue(e.getMessage().contains("it is not a regular file (a device, a pipe or a socket)"), e.getMessage());
        assertTrue(Files.exists(fifo) && !Files.isRegularFile(fifo));
        Path dir = Files.createDirectories(tmp.resolve("dir"));
        e = assertThrows(IOException.class, () -> AtomicFiles.write(dir, "x".getBytes(StandardCharsets.UTF_8)));
        assertTrue(e.getMessage().contains("it is a folder"), e.getMessage());
    }
}
