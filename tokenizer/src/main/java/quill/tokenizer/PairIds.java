package quill.tokenizer;

import java.util.Arrays;

/**
 * The merge table for encoding: pair (left id, right id) to the id it merges into. A {@code HashMap<Long,
 * Integer>} would box every key it is asked about, and encoding asks about every adjacent pair, again
 * after every merge; this open-addressing table of plain longs and ints allocates nothing per lookup.
 */
final class PairIds {
    private static final long EMPTY = -1;

    private final long[] keys;
    private final int[] ids;

    /** The table for {@code merges}: pair i becomes id 256 + i. */
    PairIds(int[][] merges) {
        int capacity = Integer.highestOneBit(Math.max(4 * merges.length, 16)); // at most a quarter full
        keys = new long[capacity];
        ids = new int[capacity];
        Arrays.fill(keys, EMPTY);
        for (int i = 0; i < merges.length; i++) {
            long key = BpeTrainer.pairKey(merges[i][0], merges[i][1]);
            int slot = slot(key);
            if (keys[slot] == key) {
                throw new IllegalArgumentException("merge " + i + " repeats the pair [" + merges[i][0] + ", "
                        + merges[i][1] + "]");
            }
            keys[slot] = key;
            ids[slot] = BpeTokenizer.BYTES + i;
        }
    }

    /** The id that (left, right) merges into, or -1 when it is not a learned pair. */
    int get(int left, int right) {
        long key = BpeTrainer.pairKey(left, right);
        int slot = slot(key);
        return keys[slot] == key ? ids[slot] : -1;
    }

    /** Where {@code key} is, or the empty slot where it would go (linear probing). */
    private int slot(long key) {
        int mask = keys.length - 1;
        int i = Long.hashCode(key * 0x9E3779B97F4A7C15L) & mask; // Fibonacci hashing spreads the packed ids
        while (keys[i] != EMPTY && keys[i] != key) i = (i + 1) & mask;
        return i;
    }
}
