package quill.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import quill.data.PreparedData;
import quill.train.SharedData;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class PrepareCommandTest {

    @TempDir
    Path tmp;

    private CliRun prepare(String dataset, Path input) {
        return CliRun.quill("prepare", dataset, "--data-dir", tmp.resolve("data").toString(),
                "--input", input.toString());
    }

    private Path file(String name, byte[] content) throws IOException {
        return Files.write(tmp.resolve(name), content);
    }

    private Path file(String name, String content) throws IOException {
        return file(name, content.getBytes(StandardCharsets.UTF_8));
    }

    /** Exit code 1 and exactly one line on stderr, {@code error: ...} containing {@code expected}. */
    private static void assertError(CliRun result, String expected) {
        assertEquals(1, result.exitCode(), result.err());
        assertEquals(1, result.err().lines().count(), "one line, no stack trace: " + result.err());
        assertTrue(result.err().startsWith("error: ") && result.err().contains(expected),
                "expected '" + expected + "' in: " + result.err());
    }

    @Test
    void tinyShakespeareGivesNanoGptsNumbers() throws IOException {
        Path shakespeare = SharedData.tinyShakespeare().orElse(null);
        assumeTrue(shakespeare != null, "no local copy of Tiny Shakespeare in ../shared/data");

        CliRun result = prepare("shakespeare_char", shakespeare);
        assertEquals(0, result.exitCode(), result.err());
        assertTrue(result.out().contains("vocab size: 65\n"), result.out());
        assertTrue(result.out().contains("train has 1,003,854 tokens\n"), result.out());
        assertTrue(result.out().contains("val has 111,540 tokens\n"), result.out());

        Path dataDir = tmp.resolve("data");
        PreparedData data = PreparedData.load(dataDir, "shakespeare_char");
        assertEquals(65, data.vocabSize());
        assertEquals(1_003_854, data.trainTokens());
        assertEquals(111_540, data.valTokens());
        assertEquals("86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", data.sourceSha256());
        assertEquals(2L * 1_003_854, Files.size(data.trainBin()));
        assertEquals(2L * 111_540, Files.size(data.valBin()));
        assertArrayEquals(Files.readAllBytes(shakespeare), Files.readAllBytes(data.inputTxt()));

        int[] train = data.readTrain();
        // "First Citizen" in nanoGPT's ids.
        assertArrayEquals(new int[]{18, 47, 56, 57, 58, 1, 15, 47, 58, 47}, Arrays.copyOf(train, 10));
        String text = Files.readString(shakespeare);
        assertEquals(text, data.tokenizer().decode(train) + data.tokenizer().decode(data.readVal()));
    }

    @Test
    void rerunningGivesTheSameFilesAndReusesInputTxt() throws IOException {
        Path input = file("story.txt", "Once upon a time, a tiny tokenizer met 😀 and 你好.\n");
        assertEquals(0, prepare("story", input).exitCode());
        Path dir = tmp.resolve("data/story");
        byte[] train = Files.readAllBytes(dir.resolve("train.bin"));
        byte[] meta = Files.readAllBytes(dir.resolve("meta.json"));

        Files.delete(input); // the second run needs only data/story/input.txt
        CliRun again = CliRun.quill("prepare", "story", "--data-dir", tmp.resolve("data").toString());
        assertEquals(0, again.exitCode(), again.err());
        assertArrayEquals(train, Files.readAllBytes(dir.resolve("train.bin")));
        assertArrayEquals(meta, Files.readAllBytes(dir.resolve("meta.json")));
        try (var files = Files.list(dir)) {
            assertEquals(4, files.count(), "no temporary files left behind");
        }
    }

    @Test
    void splitsAtNinetyPercentOfTheCodePoints() throws IOException {
        assertEquals(0, prepare("emoji", file("emoji.txt", "😀".repeat(15) + "a".repeat(5))).exitCode());
        PreparedData data = PreparedData.load(tmp.resolve("data"), "emoji");
        assertEquals(18, data.trainTokens()); // int(20 * 0.9)
        assertEquals(2, data.valTokens());
        assertEquals(2, data.vocabSize());
        assertEquals("a😀", data.tokenizer().decode(new int[]{0, 1}));
    }

    @Test
    void missingFile() {
        assertError(prepare("x", tmp.resolve("nope.txt")), "nope.txt does not exist");
    }

    @Test
    void folderInsteadOfFile() throws IOException {
        assertError(prepare("x", Files.createDirectory(tmp.resolve("folder"))), "folder is a folder, not a text file");
    }

    @Test
    void unreadableFile() throws IOException {
        Path secret = file("secret.txt", "hello");
        assumeFalse(System.getProperty("os.name").startsWith("Windows"));
        Files.setPosixFilePermissions(secret, PosixFilePermissions.fromString("---------"));
        assumeFalse(Files.isReadable(secret), "root can read anything");
        assertError(prepare("x", secret), "cannot read " + secret + ": permission denied");
    }

    @Test
    void emptyFile() throws IOException {
        assertError(prepare("x", file("empty.txt", "")), "empty.txt is empty");
    }

    @Test
    void invalidUtf8GivesTheByteOffset() throws IOException {
        byte[] bytes = {'c', 'a', 'f', (byte) 0xC3, (byte) 0xA9, ' ', (byte) 0xFF, 'x'}; // "café " then a stray 0xFF
        assertError(prepare("x", file("latin.txt", bytes)), "latin.txt is not valid UTF-8: byte 0xFF at byte offset 6");
    }

    @Test
    void truncatedUtf8AtTheEnd() throws IOException {
        byte[] bytes = {'a', 'b', (byte) 0xE4, (byte) 0xBD}; // the first two of the three bytes of 你
        assertError(prepare("x", file("cut.txt", bytes)), "byte 0xE4 at byte offset 2");
    }

    @Test
    void textTooShortForBothSplits() throws IOException {
        assertError(prepare("x", file("one.txt", "😀")), "one.txt is too short");
    }

    @Test
    void vocabularyTooLargeForUint16() throws IOException {
        StringBuilder text = new StringBuilder();
        for (int codePoint = 0x20, distinct = 0; distinct < 65_536; codePoint++) {
            if (Character.getType(codePoint) == Character.SURROGATE) continue;
            text.appendCodePoint(codePoint);
            distinct++;
        }
        assertError(prepare("x", file("huge.txt", text.toString())), "has 65,536 distinct characters");
    }

    @Test
    void unwritableOutputFolder() throws IOException {
        Path notAFolder = file("data", "a file where the data folder should be");
        CliRun result = CliRun.quill("prepare", "x", "--data-dir", notAFolder.toString(), "--input",
                file("ok.txt", "hello world").toString());
        assertError(result, "cannot write to the folder " + notAFolder.resolve("x"));
    }

    @Test
    void datasetNameMustBeAPlainFolderName() throws IOException {
        Path input = file("ok.txt", "hello world");
        for (String name : new String[]{"../escape", "a/b", "..", ".hidden", "/abs"}) {
            assertError(prepare(name, input), "dataset name '" + name + "' must be a plain folder name");
        }
        assertTrue(Files.notExists(tmp.resolve("escape")));
    }

    @Test
    void otherDatasetWithoutInputSaysToPassOne() {
        assertError(CliRun.quill("prepare", "mydata", "--data-dir", tmp.resolve("data").toString()),
                "input.txt does not exist: pass the text to prepare with --input FILE");
    }

    @Test
    void badInputLeavesAnEarlierPreparationIntact() throws IOException {
        assertEquals(0, prepare("keep", file("good.txt", "to be or not to be")).exitCode());
        assertError(prepare("keep", file("bad.txt", new byte[]{(byte) 0xFF})), "not valid UTF-8");
        PreparedData data = PreparedData.load(tmp.resolve("data"), "keep");
        assertEquals("to be or not to be", Files.readString(data.inputTxt()));
        assertEquals(18, data.trainTokens() + data.valTokens());
    }

    @Test
    void helpDescribesTheCommand() {
        CliRun result = CliRun.quill("prepare", "--help");
        assertEquals(0, result.exitCode());
        assertTrue(result.out().contains("--input=FILE") && result.out().contains("--data-dir=DIR"), result.out());
        assertEquals("", result.err());
    }
}
