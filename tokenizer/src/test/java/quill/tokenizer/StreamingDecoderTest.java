package quill.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

class StreamingDecoderTest {

    private static String streamed(Tokenizer tokenizer, int[] ids) {
        StreamingDecoder decoder = new StreamingDecoder(tokenizer);
        StringBuilder text = new StringBuilder();
        for (int id : ids) text.append(decoder.next(id));
        return text.append(decoder.finish()).toString();
    }

    @Test
    void holdsBackACharacterUntilItsLastByteArrives() {
        BpeTokenizer bytes = BpeTokenizer.train("x", 256, "none");
        StreamingDecoder decoder = new StreamingDecoder(bytes);
        assertEquals("a", decoder.next('a'));
        assertEquals("", decoder.next(0xF0)); // 😀 is F0 9F 98 80
        assertEquals("", decoder.next(0x9F));
        assertEquals("", decoder.next(0x98));
        assertEquals("😀", decoder.next(0x80));
        assertEquals("", decoder.next(0xE2));
        assertEquals("\uFFFDb", decoder.next('b')); // E2 cannot be finished any more
        assertEquals("", decoder.next(0xC3));
        assertEquals("\uFFFD", decoder.finish()); // the text ended inside a character
    }

    @Test
    void piecesAddUpToDecodingEverythingAtOnce() {
        BpeTokenizer tokenizer = BpeTokenizer.train(BpeTokenizerTest.MIXED + BpeTokenizerTest.SHAKESPEARE, 400, "none");
        Random random = new Random(7);
        for (int trial = 0; trial < 2000; trial++) {
            int[] ids = new int[random.nextInt(12)];
            for (int i = 0; i < ids.length; i++) {
                // mostly raw bytes that lead, continue or break UTF-8 sequences, sometimes a merged token
                int[] interesting = {'a', 0x80, 0x9F, 0xBF, 0xC3, 0xE0, 0xED, 0xF0, 0xF4, 0xFF, 0xA0, 0x8F};
                boolean merged = random.nextInt(3) == 0;
                ids[i] = merged ? random.nextInt(tokenizer.vocabSize())
                        : interesting[random.nextInt(interesting.length)];
            }
            assertEquals(tokenizer.decode(ids), streamed(tokenizer, ids), java.util.Arrays.toString(ids));
        }
        for (String text : List.of(BpeTokenizerTest.MIXED, "😀🎉𝄞", BpeTokenizerTest.jumble(9, 400))) {
            assertEquals(text, streamed(tokenizer, tokenizer.encode(text)));
        }
    }

    @Test
    void charTokensStreamOneCharacterEach() {
        CharTokenizer tokenizer = CharTokenizer.fromCorpus("a😀b");
        assertEquals("a😀b😀", streamed(tokenizer, tokenizer.encode("a😀b😀")));
    }
}
