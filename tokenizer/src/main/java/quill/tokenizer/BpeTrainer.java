package quill.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;

/**
 * Learns the merges of a {@link BpeTokenizer}, with exactly the result of minbpe's training loop:
 * <pre>
 *   ids = the UTF-8 bytes of each chunk
 *   repeat vocabSize - 256 times:
 *       counts = the number of times each adjacent pair (a, b) occurs, summed over all chunks
 *       pair = the most frequent pair; on a tie, the one counted first (scanning chunks left to right)
 *       replace each non-overlapping occurrence of pair, left to right, by the new id 256 + i
 * </pre>
 * (BPE for words: Sennrich et al. 2016, "Neural Machine Translation of Rare Words with Subword Units",
 * arXiv:1508.07909.) That loop rescans the whole text for every merge: thousands of passes over a
 * megabyte. This class gets the same merges while touching only what each merge changes:
 * <ul>
 *   <li>Each distinct chunk is stored once, weighted by how often it occurs ({@code " the"} occurs
 *       thousands of times but is merged once). The distinct chunks sit end to end in one array, in
 *       the order they first appear, so a smaller position means "counted earlier" in minbpe's scan.</li>
 *   <li>The tokens of a chunk form a linked list: merging two tokens unlinks the right one.</li>
 *   <li>Each pair keeps its count and the positions where it occurs (the position of its left token).
 *       Merging (a, b) at a position with neighbours x and y replaces the pairs (x, a), (a, b), (b, y)
 *       by (x, ab), (ab, y): five count updates, nothing else.</li>
 *   <li>A priority queue holds (count, pair) entries; an entry whose count is no longer the pair's is
 *       stale and skipped. Among the pairs tied at the top count, the one whose first valid position
 *       is smallest wins, which is minbpe's "counted first".</li>
 * </ul>
 * Position lists are never cleaned: a position whose tokens no longer form the pair is just skipped.
 * Tokens only ever merge into new ids, so a broken adjacency never comes back and a position is never
 * listed twice for the same pair. {@code BpeTokenizerTest} checks the merges against the plain loop
 * ({@code ReferenceBpe}, in the tests) on texts full of ties and overlaps.
 */
final class BpeTrainer {

    /** {@code ids[i]}: the token that starts at byte i, or -1 once that byte is inside the token to its left. */
    private final int[] ids;
    /** Neighbours within the chunk: the start of the next / previous token, -1 at the chunk's ends. */
    private final int[] next;
    private final int[] prev;
    /** How many times the chunk holding byte i occurs in the text. */
    private final int[] weight;
    private final Map<Long, Pair> pairs = new HashMap<>();
    /** (count << 32 | pair key), largest count first; stale entries are skipped when polled. */
    private final PriorityQueue<Long> queue = new PriorityQueue<>(Comparator.reverseOrder());

    /** A pair's count over the whole text and the positions of its occurrences (some perhaps stale). */
    private static final class Pair {
        long count;
        int[] positions = new int[2];
        int size;

        void add(int position) {
            if (size == positions.length) positions = Arrays.copyOf(positions, 2 * size);
            positions[size++] = position;
        }
    }

    private BpeTrainer(Map<String, Integer> chunkCounts) {
        List<byte[]> chunks = new ArrayList<>(chunkCounts.size());
        int length = 0;
        for (String chunk : chunkCounts.keySet()) {
            byte[] bytes = BpeTokenizer.utf8(chunk);
            chunks.add(bytes);
            length += bytes.length;
        }
        ids = new int[length];
        next = new int[length];
        prev = new int[length];
        weight = new int[length];
        int start = 0;
        int c = 0;
        for (int count : chunkCounts.values()) {
            byte[] bytes = chunks.get(c++);
            for (int i = 0; i < bytes.length; i++) {
                int p = start + i;
                ids[p] = bytes[i] & 0xFF;
                next[p] = i + 1 < bytes.length ? p + 1 : -1;
                prev[p] = i > 0 ? p - 1 : -1;
                weight[p] = count;
                if (i > 0) addOccurrence(p - 1, ids[p - 1], ids[p], count);
            }
            start += bytes.length;
        }
        for (Map.Entry<Long, Pair> e : pairs.entrySet()) queue.add(e.getValue().count << 32 | e.getKey());
    }

    /**
     * The merges for {@code text}, split by {@code pattern}: pair i (left id, right id) becomes id 256 + i.
     * Stops early, with fewer merges, only when no adjacent pair is left anywhere.
     */
    static int[][] train(String text, int numMerges, SplitPattern pattern) {
        Map<String, Integer> chunkCounts = new LinkedHashMap<>(); // insertion order: first appearance
        pattern.forEachChunk(text, (start, end) -> chunkCounts.merge(text.substring(start, end), 1, Integer::sum));
        BpeTrainer trainer = new BpeTrainer(chunkCounts);
        List<int[]> merges = new ArrayList<>(numMerges);
        for (int i = 0; i < numMerges; i++) {
            long best = trainer.mostFrequentPair();
            if (best < 0) break;
            trainer.merge(best, BpeTokenizer.BYTES + i);
            merges.add(new int[]{left(best), right(best)});
        }
        return merges.toArray(new int[0][]);
    }

    /** The most frequent pair's key, the earliest on a tie; -1 when there is none. */
    private long mostFrequentPair() {
        // pop every live entry with the top count; a pair may appear twice if its count fell and came back
        Set<Long> tied = new LinkedHashSet<>();
        long topCount = -1;
        while (!queue.isEmpty()) {
            long entry = queue.peek();
            long count = entry >>> 32;
            if (topCount >= 0 && count < topCount) break;
            queue.poll();
            long key = entry & 0xFFFF_FFFFL;
            Pair pair = pairs.get(key);
            if (pair == null || pair.count != count) continue; // stale
            topCount = count;
            tied.add(key);
        }
        long best = -1;
        int bestPosition = Integer.MAX_VALUE;
        for (long key : tied) {
            int position = firstPosition(key);
            if (position < bestPosition) {
                best = key;
                bestPosition = position;
            }
        }
        for (long key : tied) if (key != best) queue.add(topCount << 32 | key); // the losers stay in the race
        return best;
    }

    /** The smallest position where the pair {@code key} occurs now. */
    private int firstPosition(long key) {
        Pair pair = pairs.get(key);
        int first = Integer.MAX_VALUE;
        for (int i = 0; i < pair.size; i++) {
            int p = pair.positions[i];
            if (p < first && occursAt(key, p)) first = p;
        }
        return first;
    }

    private boolean occursAt(long key, int p) {
        return ids[p] == left(key) && next[p] >= 0 && ids[next[p]] == right(key);
    }

    /** Replaces every occurrence of the pair {@code key} by {@code newId}, left to right within each chunk. */
    private void merge(long key, int newId) {
        Pair pair = pairs.remove(key); // its count drops to 0: a merged pair never forms again
        int[] positions = Arrays.copyOf(pair.positions, pair.size);
        Arrays.sort(positions); // left to right, so that in "aaa" the pair (a, a) merges at its first a
        Set<Long> changed = new HashSet<>();
        for (int p : positions) {
            if (!occursAt(key, p)) continue; // stale, or its left token was just merged ("aaa")
            int q = next[p];
            int before = prev[p];
            int after = next[q];
            int w = weight[p];
            if (before >= 0) {
                changed.add(addCount(pairKey(ids[before], ids[p]), key, -w));
                changed.add(addOccurrence(before, ids[before], newId, w));
            }
            if (after >= 0) {
                changed.add(addCount(pairKey(ids[q], ids[after]), key, -w));
                changed.add(addOccurrence(p, newId, ids[after], w));
            }
            ids[p] = newId;
            ids[q] = -1;
            next[p] = after;
            if (after >= 0) prev[after] = p;
        }
        for (long k : changed) {
            Pair changedPair = pairs.get(k);
            if (changedPair == null) continue;
            if (changedPair.count == 0) pairs.remove(k);
            else queue.add(changedPair.count << 32 | k);
        }
    }

    /** Adds {@code delta} to the count of {@code key}, unless it is the pair being merged. */
    private long addCount(long key, long merging, int delta) {
        if (key != merging) pairs.get(key).count += delta;
        return key;
    }

    /** Counts a new occurrence of (left, right) at {@code p}, weighted by its chunk's frequency {@code w}. */
    private long addOccurrence(int p, int left, int right, int w) {
        long key = pairKey(left, right);
        Pair pair = pairs.computeIfAbsent(key, k -> new Pair());
        pair.count += w;
        pair.add(p);
        return key;
    }

    /** Ids are below 65,536, so a pair packs into 32 bits. */
    static long pairKey(int left, int right) {
        return (long) left << 16 | right;
    }

    static int left(long key) {
        return (int) (key >>> 16);
    }

    static int right(long key) {
        return (int) (key & 0xFFFF);
    }
}
