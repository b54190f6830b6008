package quill.tokenizer;

import java.util.Arrays;

/**
 * The merge queue for a long chunk (a whole text with split pattern {@code none}): one bucket of
 * positions per merged id. A merge only ever creates pairs that merge into a later id, so entries
 * always go into buckets after the current one, and the buckets can be emptied in id order, each
 * sorted once when its turn comes. Adding is an append, where a heap of a million entries would pay
 * about twenty cache-missing steps.
 */
final class RankBuckets implements MergeQueue {
    private final int[][] positions;
    private final int[] sizes;
    private int current = -1; // the bucket being emptied, sorted
    private int next;         // the index in it of the next position to hand out
    private int left;         // entries not yet handed out

    /** Buckets for ids 256 to {@code 256 + merges - 1}. */
    RankBuckets(int merges) {
        positions = new int[merges][];
        sizes = new int[merges];
    }

    @Override
    public void add(long entry) {
        int bucket = (int) (entry >>> 32) - BpeTokenizer.BYTES;
        if (bucket <= current) throw new IllegalStateException("merge " + bucket + " comes after merge " + current);
        int[] list = positions[bucket] == null ? new int[4] : positions[bucket];
        if (sizes[bucket] == list.length) list = Arrays.copyOf(list, 2 * list.length);
        list[sizes[bucket]++] = (int) entry;
        positions[bucket] = list;
        left++;
    }

    @Override
    public boolean isEmpty() {
        return left == 0;
    }

    @Override
    public long poll() {
        while (current < 0 || next == sizes[current]) { // move on to the next bucket with entries
            if (current >= 0) positions[current] = null;
            current++;
            next = 0;
            if (sizes[current] > 0) Arrays.sort(positions[current], 0, sizes[current]);
        }
        left--;
        return (long) (current + BpeTokenizer.BYTES) << 32 | positions[current][next++];
    }
}
