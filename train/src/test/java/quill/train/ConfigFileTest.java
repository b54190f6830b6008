package quill.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A settings file that is not what it should be is an error naming the file and the line. */
class ConfigFileTest {

    @TempDir
    Path tmp;

    @Test
    void aKeyGivenTwiceNamesBothLines() throws IOException {
        Path f = Files.writeString(tmp.resolve("my.properties"),
                "# mine\nn-layer = 2\nn-embd = 32\\\n  \n\nn-layer: 4\n");
        Exception e = assertThrows(Exception.class, () -> TrainConfig.readFile(f));
        assertEquals(f + ":6: n-layer is given twice (first on line 2); keep one", e.getMessage());
        assertTrue(e instanceof IOException || e instanceof IllegalArgumentException);
    }

    @Test
    void aFileThatIsNotTextNamesTheLine() throws IOException {
        Path f = Files.write(tmp.resolve("model.bin"),
                new byte[]{'n', '-', 'l', 'a', 'y', 'e', 'r', '=', '1', '\n', 'x', (byte) 0xff, 0});
        Exception e = assertThrows(Exception.class, () -> TrainConfig.readFile(f));
        assertTrue(e.getMessage().startsWith(f + ":2: not a text file"), e.getMessage());
        Path nul = Files.write(tmp.resolve("nul.properties"), new byte[]{'a', '=', 0, '\n'});
        e = assertThrows(Exception.class, () -> TrainConfig.readFile(nul));
        assertTrue(e.getMessage().startsWith(nul + ":1: not a text file"), e.getMessage());
    }

    @Test
    void aGoodFileStillReads() throws IOException {
        Path f = Files.writeString(tmp.resolve("ok.properties"), "n-layer = 2\n# n-layer = 3\nn-embd = 32\n");
        assertEquals("2", TrainConfig.readFile(f).get("n-layer"));
    }
}
