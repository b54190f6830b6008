package quill.tokenizer;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;

class TokenTextTest {

    private static byte[] bytes(int... values) {
        byte[] b = new byte[values.length];
        for (int i = 0; i < values.length; i++) b[i] = (byte) values[i];
        return b;
    }

    @Test
    void wholeCharactersReadAsText() {
        assertEquals(" the", TokenText.of(" the".getBytes(StandardCharsets.UTF_8)));
        assertEquals("é😀", TokenText.of("é😀".getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void piecesOfCharactersReadAsHexBytes() {
        assertEquals("\\xF0\\x9F", TokenText.of(bytes(0xF0, 0x9F))); // the first half of 😀
        assertEquals("\\x98\\x80!", TokenText.of(bytes(0x98, 0x80, '!'))); // its second half, then '!'
        assertEquals("a\\xED\\xA0\\x80", TokenText.of(bytes('a', 0xED, 0xA0, 0x80))); // an encoded surrogate
    }
}
