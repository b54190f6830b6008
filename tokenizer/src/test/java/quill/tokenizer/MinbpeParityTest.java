package quill.tokenizer;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Figures recorded from Karpathy's minbpe itself (RegexTokenizer with GPT4_SPLIT_PATTERN, trained with
 * {@code vocab_size=296} on the first 90% of Tiny Shakespeare, then {@code encode} of {@link #SAMPLE}).
 * Needs the local copy of Tiny Shakespeare in {@code ../shared/data}; skipped without it.
 */
class MinbpeParityTest {

    static final String SAMPLE =
            "ROMEO:\nBut soft! what light through yonder window breaks? 😀 It is the east, and Juliet"
            + " is the sun.\n";

    static final int[][] MERGES = {
        {32, 116}, {104, 101}, {32, 97}, {111, 117}, {32, 115}, {32, 109}, {105, 110}, {32, 119}, {114, 101},
        {104, 97}, {256, 257}, {110, 100}, {58, 10}, {32, 98}, {105, 115}, {111, 114}, {10, 10}, {32, 102},
        {101, 114}, {108, 108}, {105, 116}, {111, 110}, {32, 100}, {44, 10}, {32, 99}, {101, 115}, {32, 108},
        {101, 110}, {32, 110}, {32, 121}, {97, 114}, {256, 104}, {46, 272}, {32, 104}, {32, 111}, {256, 111},
        {32, 112}, {285, 259}, {265, 116}, {32, 73}};

    static final int[] SAMPLE_IDS = {
        82, 79, 77, 69, 79, 268, 66, 117, 116, 260, 111, 102, 116, 33, 263, 294, 282, 105, 103, 104, 116, 287, 114,
        259, 103, 104, 285, 111, 267, 274, 263, 262, 100, 111, 119, 269, 264, 97, 107, 115, 63, 32, 240, 159, 152,
        128, 295, 116, 32, 270, 266, 32, 101, 97, 115, 116, 44, 258, 267, 32, 74, 117, 108, 105, 101, 116, 32, 270,
        266, 260, 117, 110, 46, 10};

    @Test
    void learnsAndEncodesAsMinbpeOnTinyShakespeare() throws IOException {
        Path file = null;
        for (Path dir = Path.of("").toAbsolutePath(); dir != null && file == null; dir = dir.getParent()) {
            Path candidate = dir.resolve("shared/data/tinyshakespeare.txt");
            if (Files.isRegularFile(candidate)) file = candidate;
        }
        assumeTrue(file != null, "no local copy of Tiny Shakespeare in ../shared/data");
        String text = Files.readString(file);
        BpeTokenizer tokenizer = BpeTokenizer.train(text.substring(0, (int) (text.length() * 0.9)), 296, "gpt4");
        assertArrayEquals(MERGES, tokenizer.merges());
        assertArrayEquals(SAMPLE_IDS, tokenizer.encode(SAMPLE));
    }
}
