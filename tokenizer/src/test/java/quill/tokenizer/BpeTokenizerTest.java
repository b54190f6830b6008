package quill.tokenizer;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BpeTokenizerTest {

    static final String SHAKESPEARE = """
            First Citizen:
            Before we proceed any further, hear me speak.

            All:
            Speak, speak.

            First Citizen:
            You are all resolved rather to die than to famish?

            All:
            Resolved. resolved.

            First Citizen:
            First, you know Caius Marcius is chief enemy to the people.

            All:
            We know't, we know't.

            First Citizen:
            Let us kill him, and we'll have corn at our own price.
            Is't a verdict?
            """;

    static final String MIXED =
            "Café crème brûlée, 你好世界 😀😀 𝄞 naïve   spaces\t\ttabs\r\n12345 6789 it's I'LL DON'T\n"
            + "ROMEO: 'tis well 🎉🎉 ½ ⅓ ٣٤٥ \u00A0non-breaking\u3000ideographic";

    /** A seeded jumble of a few letters, spaces and multi-byte characters: many ties, many overlaps. */
    static String jumble(long seed, int length) {
        String[] pieces = {"a", "a", "a", "b", "b", "c", " ", " ", "\n", "é", "😀", "aa", "ab", "1", "'s"};
        Random random = new Random(seed);
        StringBuilder text = new StringBuilder();
        while (text.length() < length) text.append(pieces[random.nextInt(pieces.length)]);
        return text.toString();
    }

    private static void assertRoundTrip(BpeTokenizer tokenizer, String text) {
        assertEquals(text, tokenizer.decode(tokenizer.encode(text)), text);
    }

    @Test
    void minbpeReadmeExample() {
        // https://github.com/karpathy/minbpe: "aaabdaaabac", 3 merges: aa -> 256, (256, a) -> 257, (257, b) -> 258
        BpeTokenizer tokenizer = BpeTokenizer.train("aaabdaaabac", 256 + 3, "none");
        assertArrayEquals(new int[][]{{97, 97}, {256, 97}, {257, 98}}, tokenizer.merges());
        assertArrayEquals(new int[]{258, 100, 258, 97, 99}, tokenizer.encode("aaabdaaabac"));
        assertEquals("aaabdaaabac", tokenizer.decode(new int[]{258, 100, 258, 97, 99}));
        assertEquals(259, tokenizer.vocabSize());
    }

    @Test
    void tiesGoToThePairCountedFirst() {
        // "cd" and "ab" both occur twice; "cd" is counted first. Python: max(stats, key=stats.get) keeps the first.
        assertArrayEquals(new int[][]{{'c', 'd'}}, BpeTokenizer.train("cdxab cdyab", 257, "none").merges());
        // across chunks: the chunk seen first wins, although its pair sits later within its chunk
        assertArrayEquals(new int[][]{{'x', 'y'}}, BpeTokenizer.train("qxy ab ab xy", 257, "gpt2").merges());
    }

    @Test
    void overlappingPairsCountTwiceButMergeOnce() {
        // "aaaa" has (a, a) at 3 places; merging leaves 2 tokens, "aaa" leaves "aa" + "a"
        BpeTokenizer tokenizer = BpeTokenizer.train("aaaa", 258, "none");
        assertArrayEquals(new int[][]{{'a', 'a'}, {256, 256}}, tokenizer.merges());
        assertArrayEquals(new int[]{256, 'a'}, tokenizer.encode("aaa"));
        assertArrayEquals(new int[]{257, 256, 'a'}, tokenizer.encode("aaaaaaa"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt4", "gpt2", "none"})
    void learnsExactlyTheMergesOfThePlainLoop(String pattern) {
        SplitPattern split = SplitPattern.named(pattern);
        for (String text : List.of(SHAKESPEARE, MIXED + MIXED, jumble(1, 3000), jumble(2, 500))) {
            int[][] reference = ReferenceBpe.train(text, 150, split);
            assertArrayEquals(reference, BpeTrainer.train(text, 150, split), pattern + ": " + text.substring(0, 20));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt4", "gpt2", "none"})
    void encodesAsThePlainLoopDoes(String pattern) {
        BpeTokenizer tokenizer = BpeTokenizer.train(SHAKESPEARE + MIXED + jumble(3, 2000), 400, pattern);
        int[][] merges = tokenizer.merges();
        // the last text is one chunk of over 1,024 bytes with "none", which queues its merges in RankBuckets
        for (String text : List.of(SHAKESPEARE, MIXED, jumble(4, 1000), "aaaaaaa", "", SHAKESPEARE + jumble(8, 1500))) {
            List<Integer> expected = new ArrayList<>();
            for (String chunk : SplitPattern.named(pattern).split(text)) {
                expected.addAll(ReferenceBpe.encodeChunk(BpeTokenizer.utf8(chunk), merges));
            }
            assertEquals(expected, boxed(tokenizer.encode(text)));
            assertEquals(expected, boxed(tokenizer.encode(text)), "the cached encoding too");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt4", "gpt2", "none"})
    void roundTripsAnyText(String pattern) {
        BpeTokenizer tokenizer = BpeTokenizer.train(SHAKESPEARE, 300, pattern);
        assertRoundTrip(tokenizer, SHAKESPEARE);
        assertRoundTrip(tokenizer, "First Citizen: plain ASCII, never seen in this order.");
        assertRoundTrip(tokenizer,
                "Café crème brûlée, 你好世界, Ελληνικά, русский"); // multi-byte, unseen
        assertRoundTrip(tokenizer, "a😀b🎉😀 𝄞 \uD83D\uDE00"); // astral plane: four bytes each
        assertRoundTrip(tokenizer, "\uFFFD\u0000\u007F\uFEFF</s><|endoftext|>\\x80"); // looks invalid, is not
        assertRoundTrip(tokenizer, "");
        assertEquals(4, tokenizer.encode("😀").length, "an unseen emoji is its four bytes");
    }

    @Test
    void invalidUtf8DecodesToReplacementCharacters() {
        BpeTokenizer tokenizer = BpeTokenizer.train("ab", 256, "none");
        assertEquals("\uFFFD", tokenizer.decode(new int[]{0xF0, 0x9F})); // half an emoji
        assertEquals("a\uFFFDb", tokenizer.decode(new int[]{'a', 0x80, 'b'})); // a lone continuation byte
        assertEquals("\uFFFD\uFFFD", tokenizer.decode(new int[]{0xFF, 0xFE}));
        assertEquals("😀", tokenizer.decode(new int[]{0xF0, 0x9F, 0x98, 0x80}));
        // as many U+FFFD as Python's bytes.decode("utf-8", errors="replace") (Java's own decoder differs on ED BF)
        assertEquals("\uFFFD".repeat(4), tokenizer.decode(new int[]{0xED, 0xBF, 0xA0, 0xA0})); // an encoded surrogate
        assertEquals("\uFFFD".repeat(3), tokenizer.decode(new int[]{0xE0, 0x80, 0x80})); // overlong
        assertEquals("\uFFFD".repeat(4), tokenizer.decode(new int[]{0xF4, 0x90, 0x80, 0x80})); // past U+10FFFF
        assertEquals("\uFFFD".repeat(2), tokenizer.decode(new int[]{0xC0, 0xAF}));
        assertEquals("\uFFFD", tokenizer.decode(new int[]{0xF0, 0x9F, 0x98}));
        // a lone surrogate is not Unicode: it encodes as U+FFFD, as Python would refuse to
        assertEquals("x\uFFFDy", tokenizer.decode(tokenizer.encode("x\uD800y")));
    }

    @Test
    void outOfRangeIdsAreRejected() {
        BpeTokenizer tokenizer = BpeTokenizer.train("abab", 257, "none");
        var e = assertThrows(IllegalArgumentException.class, () -> tokenizer.decode(new int[]{97, 257}));
        assertEquals("token id 257 at position 1 is outside the vocabulary [0, 257)", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> tokenizer.decode(new int[]{-1}));
    }

    @Test
    void trainingIsDeterministic() {
        String text = SHAKESPEARE + MIXED + jumble(5, 5000);
        for (String pattern : SplitPattern.NAMES) {
            BpeTokenizer first = BpeTokenizer.train(text, 600, pattern);
            assertEquals(first.toJson(), BpeTokenizer.train(text, 600, pattern).toJson());
        }
    }

    @Test
    void specialTokensAreNeverSplit() {
        BpeTokenizer tokenizer = BpeTokenizer.train(SHAKESPEARE, 300, "gpt4")
                .withSpecialTokens(List.of("<|endoftext|>", "<|end|>"));
        assertEquals(302, tokenizer.vocabSize());
        String text = "speak.<|endoftext|>All:<|end|><|endoftext|>";
        List<Integer> expected = new ArrayList<>(boxed(tokenizer.encode("speak.")));
        expected.add(300);
        expected.addAll(boxed(tokenizer.encode("All:")));
        expected.addAll(List.of(301, 300));
        assertEquals(expected, boxed(tokenizer.encode(text)));
        assertEquals(text, tokenizer.decode(tokenizer.encode(text)));
        assertThrows(IllegalArgumentException.class, () -> tokenizer.withSpecialTokens(List.of("<|end|>")));
    }

    @Test
    void savedAndLoadedEncodesIdentically(@TempDir Path dir) throws Exception {
        for (String pattern : SplitPattern.NAMES) {
            BpeTokenizer tokenizer = BpeTokenizer.train(SHAKESPEARE + MIXED, 400, pattern)
                    .withSpecialTokens(List.of("<|endoftext|>"));
            Path file = dir.resolve(pattern + ".json");
            tokenizer.save(file);
            Tokenizer loaded = Tokenizer.load(file);
            assertInstanceOf(BpeTokenizer.class, loaded);
            assertEquals(tokenizer.vocabSize(), loaded.vocabSize());
            String text = SHAKESPEARE + MIXED + "<|endoftext|>" + jumble(6, 500);
            assertArrayEquals(tokenizer.encode(text), loaded.encode(text));
            assertEquals(tokenizer.toJson(), loaded.toJson());
            assertEquals(pattern, ((BpeTokenizer) loaded).splitPattern());
        }
        String saved = Files.readString(dir.resolve("gpt4.json"), StandardCharsets.UTF_8);
        JsonObject json = JsonParser.parseString(saved).getAsJsonObject();
        assertEquals("bpe", json.get("type").getAsString());
        assertEquals(SplitPattern.GPT4, json.get("pattern").getAsString());
        assertEquals(144, json.getAsJsonArray("merges").size());
        assertEquals(400, json.getAsJsonObject("special_tokens").get("<|endoftext|>").getAsInt());
    }

    @Test
    void badInputIsOneClearMessage() {
        assertEquals("a BPE vocabulary size must be between 256 (the byte values) and 65536 (16-bit ids), got 255",
                assertThrows(IllegalArgumentException.class, () -> BpeTokenizer.train("abc", 255, "gpt4"))
                        .getMessage());
        assertThrows(IllegalArgumentException.class, () -> BpeTokenizer.train("abc", 65_537, "gpt4"));
        assertEquals("unknown split pattern 'gpt3' (known: gpt4, gpt2, none)",
                assertThrows(IllegalArgumentException.class, () -> BpeTokenizer.train("abc", 300, "gpt3"))
                        .getMessage());
        assertEquals("cannot train a BPE tokenizer on empty text",
                assertThrows(IllegalArgumentException.class, () -> BpeTokenizer.train("", 300, "gpt4")).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> BpeTokenizer.train("abc", 300, "none"))
                .getMessage().startsWith("the text is too short for a vocabulary of 300: after 2 merges"));
    }

    @Test
    void damagedJsonIsOneClearMessage() {
        String[] damaged = {
            "{\"type\": \"bpe\", \"merges\": []}",
            "{\"type\": \"bpe\", \"pattern\": \"\", \"merges\": [[97, 256]]}",
            "{\"type\": \"bpe\", \"pattern\": \"\", \"merges\": [[97, 98], [97, 98]]}",
            "{\"type\": \"bpe\", \"pattern\": \"\", \"merges\": [[97]]}",
            "{\"type\": \"bpe\", \"pattern\": \"(\", \"merges\": []}",
            "{\"type\": \"bpe\", \"pattern\": \"\", \"merges\": [], \"special_tokens\": {\"<s>\": 300}}",
            "{\"type\": \"bpe\", \"pattern\": \"\", \"merges\": [], \"special_tokens\": {\"<s>\": \"x\"}}",
            "{\"type\": \"bpe\", \"pattern\": \"\", \"merges\": [[97, \"b\"]]}",
            "{\"type\": \"bpe\", \"pattern\": \"\", \"merges\": [[97, 1.5]]}",
        };
        for (String json : damaged) {
            JsonObject object = JsonParser.parseString(json).getAsJsonObject();
            assertThrows(IllegalArgumentException.class, () -> Tokenizer.fromJson(object), json);
        }
    }

    @Test
    void moreThan65536IdsAreRejected() {
        com.google.gson.JsonArray merges = new com.google.gson.JsonArray();
        for (int i = 0; i < BpeTokenizer.MAX_VOCAB_SIZE - 256 + 1; i++) { // distinct pairs of bytes
            com.google.gson.JsonArray pair = new com.google.gson.JsonArray();
            pair.add(i / 256);
            pair.add(i % 256);
            merges.add(pair);
        }
        JsonObject json = new JsonObject();
        json.addProperty("type", "bpe");
        json.addProperty("pattern", "");
        json.add("merges", merges);
        assertEquals("a BPE vocabulary holds at most 65536 ids, this one 65537",
                assertThrows(IllegalArgumentException.class, () -> Tokenizer.fromJson(json)).getMessage());
    }

    private static List<Integer> boxed(int[] ids) {
        List<Integer> list = new ArrayList<>(ids.length);
        for (int id : ids) list.add(id);
        return list;
    }
}
