package quill.model;

import java.util.Arrays;

/**
 * Which positions a generation cache computes next, and which tokens it then holds: the bookkeeping {@link KvCache} and
 * {@link FastGpt.Cache} share. A history that is the last one plus a token, while the cache is not full, is one new
 * position (an append); anything else (a new prompt, or a full cache) is a window recomputed from position 0: the
 * history cropped to its last blockSize tokens, as nanoGPT crops it, or a full cache less its {@code slide} oldest.
 */
final class CacheWindow {
    private final int blockSize, slide;
    /** The tokens whose keys and values are cached, at positions 0..length-1. */
    private final int[] tokens;
    private int length;
    /** Where {@link #tokens} starts in the history last passed to {@link #next}, and that history's length. */
    private int windowStart, historyLength;

    /** {@code slide}: how many of the oldest tokens a full cache drops at once, 1 to blockSize (1 is nanoGPT's). */
    CacheWindow(int blockSize, int slide) {
        if (slide < 1 || slide > blockSize) {
            throw new IllegalArgumentException("slide must be between 1 and blockSize (" + blockSize + "), got "
                    + slide);
        }
        this.blockSize = blockSize;
        this.slide = slide;
        this.tokens = new int[blockSize];
    }

    /**
     * How many of the last tokens of {@code history[0..n)} the next step computes, at positions {@link #length()}
     * on: 1 for an append, else a window, for which the length is first set to 0.
     */
    int next(int[] history, int n) {
        if (n < 1 || n > history.length) throw new IllegalArgumentException("history length " + n + " is not in [1, "
                + history.length + "]");
        boolean extendsCache = length > 0 && n == historyLength + 1
                && Arrays.equals(tokens, 0, length, history, windowStart, windowStart + length);
        if (extendsCache && length < blockSize) return 1;           // one new position: append
        length = 0;                                                 // recompute at positions 0..count-1
        return extendsCache ? blockSize - slide + 1 : Math.min(n, blockSize);
    }

    /** The step {@link #next} chose for {@code history[0..n)}, of {@code count} tokens, is computed: they are cached. */
    void advance(int[] history, int n, int count) {
        System.arraycopy(history, n - count, tokens, length, count);
        length += count;
        historyLength = n;
        windowStart = n - length;
    }

    /** The number of positions cached (at most blockSize). */
    int length() {
        return length;
    }
}
