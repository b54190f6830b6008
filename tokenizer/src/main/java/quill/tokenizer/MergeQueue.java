package quill.tokenizer;

/**
 * Where encoding keeps the pairs it may merge, as {@code (merged id << 32 | position)} entries, and
 * hands them back smallest first: the earliest-learned merge, leftmost occurrence first.
 */
interface MergeQueue {
    void add(long entry);

    boolean isEmpty();

    /** Removes and returns the smallest entry. */
    long poll();
}
