package quill.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class SplitPatternTest {

    /** Letters, numbers, contractions, odd white space (U+001C, U+0085, U+2028, U+3000), emoji, long s. */
    static final String TRICKY =
            "Caf\u00E9 cr\u00E8me br\u00FBl\u00E9e, \u4F60\u597D\u4E16\u754C \uD83D\uDE00\uD83D\uDE00"
            + " \uD834\uDD1E na\u00EFve   spaces\t\ttabs\r\n12345 6789 it's I'LL DON'T\nROMEO: 'tis wel"
            + "l \uD83C\uDF89\uD83C\uDF89 \u00BD \u2153 \u0663\u0664\u0665 \u00A0non-breaking\u3000ideo"
            + "graphic \u001C\u001D\u0085 x\u2028y \u017F'S '\u017F \u01C5\u200B  \n\n  end!!!\n\n\"quo"
            + "ted\"...?\r\r\n";

    // The expected chunks are what Python's regex module gives (regex.findall(minbpe's pattern, TRICKY)).

    @Test
    void gpt4SplitsAsPythonsRegexModule() {
        assertEquals(List.of(
                "Caf\u00E9", " cr\u00E8me", " br\u00FBl\u00E9e", ",", " \u4F60\u597D\u4E16\u754C",
                " \uD83D\uDE00\uD83D\uDE00", " \uD834\uDD1E", " na\u00EFve", "  ", " spaces", "\t", "\ttabs",
                "\r\n", "123", "45", " ", "678", "9", " it", "'s", " I", "'LL", " DON", "'T", "\n", "ROMEO", ":",
                " '", "tis", " well", " \uD83C\uDF89\uD83C\uDF89", " ", "\u00BD", " ", "\u2153", " ",
                "\u0663\u0664\u0665", " ", "\u00A0non", "-breaking", "\u3000ideographic", " \u001C\u001D",
                "\u0085", " x", "\u2028y", " \u017F", "'S", " '", "\u017F", " \u01C5", "\u200B", "  \n\n", " ",
                " end", "!!!\n\n", "\"quoted", "\"...?\r\r\n"),
                SplitPattern.named("gpt4").split(TRICKY));
    }

    @Test
    void gpt2SplitsAsPythonsRegexModule() {
        assertEquals(List.of(
                "Caf\u00E9", " cr\u00E8me", " br\u00FBl\u00E9e", ",", " \u4F60\u597D\u4E16\u754C",
                " \uD83D\uDE00\uD83D\uDE00", " \uD834\uDD1E", " na\u00EFve", "  ", " spaces", "\t", "\t", "tabs",
                "\r", "\n", "12345", " 6789", " it", "'s", " I", "'", "LL", " DON", "'", "T", "\n", "ROMEO", ":",
                " '", "tis", " well", " \uD83C\uDF89\uD83C\uDF89", " \u00BD", " \u2153", " \u0663\u0664\u0665",
                " ", "\u00A0", "non", "-", "breaking", "\u3000", "ideographic", " \u001C\u001D", "\u0085", " x",
                "\u2028", "y", " \u017F", "'", "S", " '", "\u017F", " \u01C5", "\u200B", "  \n\n ", " end", "!!!",
                "\n", "\n", "\"", "quoted", "\"...?", "\r\r\n"),
                SplitPattern.named("gpt2").split(TRICKY));
    }

    @Test
    void noneKeepsTheWholeText() {
        assertEquals(List.of(TRICKY), SplitPattern.named("none").split(TRICKY));
        assertEquals(List.of(), SplitPattern.named("none").split(""));
    }

    @Test
    void chunksPutTogetherAreTheText() {
        for (String name : List.of("gpt4", "gpt2")) {
            assertEquals(TRICKY, String.join("", SplitPattern.named(name).split(TRICKY)));
        }
    }

    @Test
    void namesAreCaseInsensitiveAndUnknownOnesRejected() {
        assertEquals("gpt4", SplitPattern.named("GPT4").name());
        assertEquals("unknown split pattern 'gpt3' (known: gpt4, gpt2, none)",
                assertThrows(IllegalArgumentException.class, () -> SplitPattern.named("gpt3")).getMessage());
    }
}
