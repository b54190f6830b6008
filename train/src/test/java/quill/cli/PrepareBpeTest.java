package quill.cli;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import quill.tokenizer.BpeTokenizer;
import quill.data.PreparedData;
import quill.train.SharedData;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@code quill prepare --tokenizer bpe}: as nanoGPT's data/shakespeare/prepare.py, with our own BPE. */
class PrepareBpeTest {

    static final String STORY = "Once upon a time, a tiny tokenizer met 😀 and 你好. Once upon a time it merged"
            + " the pairs it saw most often, once upon a time.\n".repeat(3);

    @TempDir
    Path tmp;

    private CliRun prepare(String dataset, Path input, String... options) {
        List<String> args = new ArrayList<>(List.of("prepare", dataset, "--data-dir", tmp.resolve("data").toString(),
                "--input", input.toString()));
        args.addAll(List.of(options));
        return CliRun.quill(args.toArray(new String[0]));
    }

    private Path file(String name, String content) throws IOException {
        return Files.writeString(tmp.resolve(name), content, StandardCharsets.UTF_8);
    }

    private static void assertError(CliRun result, String expected) {
        assertEquals(1, result.exitCode(), result.err());
        assertEquals(1, result.err().lines().count(), "one line, no stack trace: " + result.err());
        assertTrue(result.err().startsWith("error: ") && result.err().contains(expected),
                "expected '" + expected + "' in: " + result.err());
    }

    @Test
    void trainsOnTheFirstNinetyPercentAndEncodesEachPartOnItsOwn() throws IOException {
        CliRun result = prepare("story", file("story.txt", STORY), "--tokenizer", "bpe", "--vocab-size", "300",
                "--split-pattern", "gpt2");
        assertEquals(0, result.exitCode(), result.err());
        assertTrue(result.out().contains("vocab size: 300\n"), result.out());
        assertTrue(result.err().contains("trained a BPE tokenizer (300 ids, gpt2 split)"), result.err());

        PreparedData data = PreparedData.load(tmp.resolve("data"), "story");
        BpeTokenizer tokenizer = assertInstanceOf(BpeTokenizer.class, data.tokenizer());
        int n = STORY.codePointCount(0, STORY.length());
        int at = STORY.offsetByCodePoints(0, (int) (n * 0.9));
        String train = STORY.substring(0, at);
        String val = STORY.substring(at);
        assertEquals(BpeTokenizer.train(train, 300, "gpt2").toJson(), tokenizer.toJson(), "learned from train only");
        assertArrayEquals(tokenizer.encode(train), data.readTrain());
        assertArrayEquals(tokenizer.encode(val), data.readVal());
        assertEquals(STORY, tokenizer.decode(data.readTrain()) + tokenizer.decode(data.readVal()));

        JsonObject meta = JsonParser.parseString(Files.readString(data.metaJson())).getAsJsonObject();
        assertEquals(300, meta.get("vocab_size").getAsInt());
        assertEquals("bpe", meta.getAsJsonObject("tokenizer").get("type").getAsString());
        assertEquals(44, meta.getAsJsonObject("tokenizer").getAsJsonArray("merges").size());
    }

    @Test
    void tinyShakespeareWith512Ids() throws IOException {
        Path shakespeare = SharedData.tinyShakespeare().orElse(null);
        assumeTrue(shakespeare != null, "no local copy of Tiny Shakespeare in ../shared/data");
        CliRun result = prepare("shakespeare_bpe", shakespeare, "--tokenizer", "bpe", "--vocab-size", "512");
        assertEquals(0, result.exitCode(), result.err());
        PreparedData data = PreparedData.load(tmp.resolve("data"), "shakespeare_bpe");
        String text = Files.readString(shakespeare);
        String train = data.tokenizer().decode(data.readTrain());
        assertEquals(1_003_854, train.length(), "the first 90% of the characters, as prepare.py's data[:int(n*0.9)]");
        assertEquals(text, train + data.tokenizer().decode(data.readVal()));
        assertTrue(data.trainTokens() < 600_000, "about 2 characters per token: " + data.trainTokens());
        assertTrue(result.out().contains("length of dataset in characters: 1,115,394\n"), result.out());
    }

    @Test
    void badSettingsAreOneClearLine() throws IOException {
        Path input = file("story.txt", STORY);
        assertError(prepare("s", input, "--tokenizer", "bpe", "--vocab-size", "255"),
                "a BPE vocabulary size must be between 256 (the byte values) and 65536 (16-bit ids), got 255");
        assertError(prepare("s", input, "--tokenizer", "bpe", "--vocab-size", "65537"), "got 65537");
        assertError(prepare("s", input, "--tokenizer", "bpe", "--vocab-size", "300", "--split-pattern", "gpt3"),
                "unknown split pattern 'gpt3' (known: gpt4, gpt2, none)");
        assertError(prepare("s", file("short.txt", "ab"), "--tokenizer", "bpe", "--vocab-size", "300"),
                "is too short");
        assertError(prepare("s", input, "--tokenizer", "bpe", "--vocab-size", "60000"),
                "the text is too short for a vocabulary of 60,000");
        assertTrue(Files.notExists(tmp.resolve("data/s/meta.json")), "nothing prepared");
    }

    @Test
    void settingsThatDoNotFitTheTokenizerAreUsageErrors() throws IOException {
        Path input = file("story.txt", STORY);
        CliRun noSize = prepare("s", input, "--tokenizer", "bpe");
        assertEquals(2, noSize.exitCode());
        assertTrue(noSize.err().startsWith("error: --tokenizer bpe needs --vocab-size V"), noSize.err());
        assertEquals(2, prepare("s", input, "--vocab-size", "300").exitCode());
        assertEquals(2, prepare("s", input, "--split-pattern", "gpt2").exitCode());
        assertEquals(2, prepare("s", input, "--tokenizer", "wordpiece").exitCode());
    }
}
