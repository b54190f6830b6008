package quill.tokenizer;

/**
 * Remembers the ids of chunks already encoded: a text repeats the same few thousand words, and a
 * lookup is far cheaper than replaying the merges. It is looked up by a region of the text, without
 * copying the chunk out into a String of its own; that copy (and hashing it) cost more than the
 * splitting regex itself. An open-addressing hash table: keys and values in two arrays, linear probing.
 * Not thread-safe: {@link BpeTokenizer} keeps one per thread (a lock per lookup cost a third of the speed).
 */
final class ChunkCache {
    private final int maxEntries;
    private String[] keys = new String[1024];
    private int[][] values = new int[1024][];
    private int size;

    ChunkCache(int maxEntries) {
        this.maxEntries = maxEntries;
    }

    /** The ids stored for {@code text[start, end)}, or null. */
    int[] get(String text, int start, int end) {
        for (int i = hash(text, start, end) & (keys.length - 1); keys[i] != null; i = (i + 1) & (keys.length - 1)) {
            if (keys[i].length() == end - start && keys[i].regionMatches(0, text, start, end - start)) return values[i];
        }
        return null;
    }

    /** Stores the ids of {@code text[start, end)}, unless the cache is full. */
    void put(String text, int start, int end, int[] ids) {
        if (size >= maxEntries) return;
        if (2 * (size + 1) > keys.length) grow();
        String key = text.substring(start, end);
        int i = hash(text, start, end) & (keys.length - 1);
        while (keys[i] != null) {
            if (keys[i].equals(key)) return;
            i = (i + 1) & (keys.length - 1);
        }
        keys[i] = key;
        values[i] = ids;
        size++;
    }

    /** Doubles the table (kept at most half full, so that probes stay short). */
    private void grow() {
        String[] oldKeys = keys;
        int[][] oldValues = values;
        keys = new String[2 * oldKeys.length];
        values = new int[2 * oldKeys.length][];
        for (int j = 0; j < oldKeys.length; j++) {
            if (oldKeys[j] == null) continue;
            int i = hash(oldKeys[j], 0, oldKeys[j].length()) & (keys.length - 1);
            while (keys[i] != null) i = (i + 1) & (keys.length - 1);
            keys[i] = oldKeys[j];
            values[i] = oldValues[j];
        }
    }

    /** String's hash of the region, its bits mixed so that the low ones (the table index) vary. */
    private static int hash(String text, int start, int end) {
        int h = 0;
        for (int i = start; i < end; i++) h = 31 * h + text.charAt(i);
        return h ^ (h >>> 16);
    }
}
