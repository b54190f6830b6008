package quill.cli;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenizeCommandTest {

    @TempDir
    static Path tmp;

    @BeforeAll
    static void prepare() throws IOException {
        Path input = Files.writeString(tmp.resolve("story.txt"), PrepareBpeTest.STORY);
        String data = tmp.resolve("data").toString();
        assertEquals(0, CliRun.quill("prepare", "bpe", "--data-dir", data, "--input", input.toString(),
                "--tokenizer", "bpe", "--vocab-size", "300").exitCode());
        assertEquals(0, CliRun.quill("prepare", "chars", "--data-dir", data, "--input", input.toString()).exitCode());
    }

    private static CliRun tokenize(String... args) {
        String[] all = new String[args.length + 3];
        all[0] = "tokenize";
        all[1] = "--data-dir";
        all[2] = tmp.resolve("data").toString();
        System.arraycopy(args, 0, all, 3, args.length);
        return CliRun.quill(all);
    }

    @Test
    void showsEachTokenAndTheCompression() {
        CliRun r = tokenize("--dataset", "bpe", "Once upon a time 😀");
        assertEquals(0, r.exitCode(), r.err());
        String[] lines = r.out().split("\n");
        assertTrue(lines[0].startsWith("tokenizer: bpe, 300 ids, gpt4 split ("), lines[0]);
        // frequent words are whole tokens; the emoji's four bytes were never merged, so they show as bytes
        assertTrue(lines[1].startsWith("[Once][␣upon][␣a][␣time][␣]"), lines[1]);
        assertTrue(lines[1].endsWith("[\\xF0][\\x9F][\\x98][\\x80]"), lines[1]);
        assertTrue(r.out().contains("18 characters, 21 bytes, "), r.out());
    }

    @Test
    void characterTokensAreOneCharacterEach() {
        CliRun r = tokenize("--dataset", "chars", "--max-tokens", "3", "Once");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("[O][n][c] ...\n"), r.out());
        assertTrue(r.out().contains("... 1 more\n"), r.out());
        assertTrue(r.out().contains("4 characters, 4 bytes, 4 tokens: 1.00 bytes per token"), r.out());
    }

    @Test
    void problemsAreOneLine() {
        CliRun unknown = tokenize("--dataset", "chars", "Zebra");
        assertEquals(1, unknown.exitCode());
        assertEquals(1, unknown.err().lines().count(), unknown.err());
        assertTrue(unknown.err().startsWith("error: cannot tokenize the text: character 'Z'"), unknown.err());

        CliRun missing = tokenize("--dataset", "nothing", "hi");
        assertEquals(1, missing.exitCode());
        assertTrue(missing.err().startsWith("error: dataset nothing is not prepared"), missing.err());

        assertEquals(2, tokenize("--dataset", "bpe").exitCode());
    }
}
