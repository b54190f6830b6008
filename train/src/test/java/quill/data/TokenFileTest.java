package quill.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenFileTest {

    @TempDir
    Path tmp;

    /** A token file cut short while it is mapped (another program truncating it) is an error naming it. */
    @Test
    void aFileTruncatedWhileMappedIsAClearError() throws IOException {
        Path bin = Files.write(tmp.resolve("train.bin"), new byte[1 << 16]);
        TokenFile f = TokenFile.open(bin);
        int[][] x = new int[1][8], y = new int[1][8];
        f.fill(new int[]{30_000}, x, y);
        assertEquals(0, x[0][0]);
        try (FileChannel ch = FileChannel.open(bin, StandardOpenOption.WRITE)) {
            ch.truncate(100);
        }
        UncheckedIOException e = assertThrows(UncheckedIOException.class, () -> f.fill(new int[]{30_000}, x, y));
        assertTrue(e.getMessage().contains(bin + " became shorter while it was in use"), e.getMessage());
    }
}
