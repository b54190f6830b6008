package quill.tokenizer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CharTokenizerTest {

    private static void assertRoundTrip(String text) {
        Tokenizer tokenizer = CharTokenizer.fromCorpus(text);
        int[] ids = tokenizer.encode(text);
        assertEquals(text.codePointCount(0, text.length()), ids.length, "one token per code point");
        assertEquals(text, tokenizer.decode(ids));
    }

    @Test
    void idsArePositionsInTheSortedVocabulary() {
        CharTokenizer tokenizer = CharTokenizer.fromCorpus("hello");
        assertEquals(4, tokenizer.vocabSize()); // e h l o
        assertArrayEquals(new int[]{1, 0, 2, 2, 3}, tokenizer.encode("hello"));
    }

    @Test
    void roundTripsAscii() {
        assertRoundTrip("First Citizen:\nBefore we proceed any further, hear me speak.\n\tAll: Speak, speak!");
    }

    @Test
    void roundTripsMultiByteText() {
        assertRoundTrip("Café crème brûlée, 你好世界, Ελληνικά, русский");
    }

    @Test
    void roundTripsAstralPlaneTextOneTokenPerEmoji() {
        String text = "a😀b🎉😀 𝄞";
        assertRoundTrip(text);
        CharTokenizer tokenizer = CharTokenizer.fromCorpus(text);
        assertEquals(6, tokenizer.vocabSize()); // ' ' a b 😀 🎉 𝄞, no surrogate halves
        assertEquals("😀", tokenizer.decode(tokenizer.encode("😀")));
    }

    @Test
    void sortsByCodePointNotByUtf16Unit() {
        // String.compareTo would put U+1F600 (units D83D DE00) before U+FFFD.
        CharTokenizer tokenizer = CharTokenizer.fromCorpus("😀\uFFFD");
        assertArrayEquals(new int[]{1, 0}, tokenizer.encode("😀\uFFFD"));
    }

    @Test
    void vocabularyDoesNotDependOnTheOrderOfTheCorpus() {
        assertEquals(CharTokenizer.fromCorpus("abc").toJson(), CharTokenizer.fromCorpus("cba").toJson());
    }

    @Test
    void jsonRoundTripKeepsEveryId(@TempDir Path dir) throws Exception {
        String corpus = "Hello \"world\" <&> \\ é 你 😀\n\t\u0007";
        CharTokenizer original = CharTokenizer.fromCorpus(corpus);
        Path file = dir.resolve("tokenizer.json");
        original.save(file);

        Tokenizer loaded = Tokenizer.load(file);
        assertInstanceOf(CharTokenizer.class, loaded);
        assertEquals(original.vocabSize(), loaded.vocabSize());
        assertArrayEquals(original.encode(corpus), loaded.encode(corpus));
        assertTrue(Files.readString(file).contains("\"type\": \"char\""), "readable JSON naming its type");
    }

    @Test
    void unknownCharacterIsNamedWithItsCodePointOffset() {
        CharTokenizer tokenizer = CharTokenizer.fromCorpus("abc");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> tokenizer.encode("abxc"));
        assertEquals("character 'x' (U+0078) at code point offset 2 is not in the vocabulary of 3 characters",
                e.getMessage());
    }

    @Test
    void unknownCharacterOffsetCountsAnEmojiAsOne() {
        CharTokenizer tokenizer = CharTokenizer.fromCorpus("a😀");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> tokenizer.encode("😀😀é"));
        assertTrue(e.getMessage().startsWith("character 'é' (U+00E9) at code point offset 2 "), e.getMessage());
    }

    @Test
    void unprintableUnknownCharactersAreEscaped() {
        CharTokenizer tokenizer = CharTokenizer.fromCorpus("abc");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> tokenizer.encode("a\nb"))
                .getMessage().startsWith("character '\\n' (U+000A) at code point offset 1 "));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> tokenizer.encode("\tb"))
                .getMessage().startsWith("character '\\t' (U+0009) at code point offset 0 "));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> tokenizer.encode("ab\u0007"))
                .getMessage().startsWith("character '\\u0007' (U+0007) at code point offset 2 "));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> tokenizer.encode("a\u200Bb"))
                .getMessage().startsWith("character '\\u200B' (U+200B) at code point offset 1 "));
    }

    @Test
    void idOutsideTheVocabularyIsAnError() {
        CharTokenizer tokenizer = CharTokenizer.fromCorpus("abc");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> tokenizer.decode(new int[]{0, 3}));
        assertEquals("token id 3 at position 1 is outside the vocabulary [0, 3)", e.getMessage());
    }

    @Test
    void emptyCorpusIsAnError() {
        assertThrows(IllegalArgumentException.class, () -> CharTokenizer.fromCorpus(""));
    }

    @Test
    void badJsonIsAClearError(@TempDir Path dir) throws Exception {
        Path unsorted = dir.resolve("unsorted.json");
        Files.writeString(unsorted, "{\"type\": \"char\", \"chars\": \"ba\"}");
        assertEquals("a char tokenizer's \"chars\" must be distinct and sorted by code point, but 'b' (U+0062) comes"
                + " before 'a' (U+0061)",
                assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(unsorted)).getMessage());

        Path unknownType = dir.resolve("wordpiece.json");
        Files.writeString(unknownType, "{\"type\": \"wordpiece\"}");
        assertEquals("unknown tokenizer type 'wordpiece' (known: 'char', 'bpe')",
                assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(unknownType)).getMessage());

        Path notJson = dir.resolve("broken.json");
        Files.writeString(notJson, "{\"type\": ");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(notJson))
                .getMessage().startsWith(notJson + " is not valid JSON"));
    }

    @Test
    void extendingAppendsNewCharactersAfterTheOldIds() {
        CharTokenizer base = CharTokenizer.fromCorpus("hello world\n");
        assertEquals(java.util.Map.of((int) '!', 2, (int) 'H', 1), base.missing("Hello world!!"));
        CharTokenizer extended = base.extend("Hello world!!");
        assertEquals(base.vocabSize() + 2, extended.vocabSize());
        assertArrayEquals(base.encode("hello world\n"), extended.encode("hello world\n"), "old ids keep their meaning");
        assertArrayEquals(new int[]{9, 10}, extended.encode("!H"), "new ids after the old, by code point");
        assertEquals("Hello world!!", extended.decode(extended.encode("Hello world!!")));
        assertEquals("!H", extended.toJson().get("added").getAsString());
        Tokenizer back = Tokenizer.fromJson(extended.toJson());
        assertArrayEquals(extended.encode("Hello world!!"), back.encode("Hello world!!"));
        assertEquals(base, base.extend("hello"), "nothing missing: the same tokenizer");
        com.google.gson.JsonObject bad = extended.toJson();
        bad.addProperty("added", "!h");
        assertThrows(IllegalArgumentException.class, () -> Tokenizer.fromJson(bad));
    }
}
