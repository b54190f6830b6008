package quill.tokenizer;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * BPE training as minbpe writes it, step for step and slow: every merge recounts all pairs of all
 * chunks and rewrites every chunk. {@link BpeTrainer} must learn the very same merges.
 */
final class ReferenceBpe {
    private ReferenceBpe() {
    }

    static int[][] train(String text, int numMerges, SplitPattern pattern) {
        List<List<Integer>> chunks = new ArrayList<>();
        for (String chunk : pattern.split(text)) {
            List<Integer> ids = new ArrayList<>();
            for (byte b : BpeTokenizer.utf8(chunk)) ids.add(b & 0xFF);
            chunks.add(ids);
        }
        List<int[]> merges = new ArrayList<>();
        for (int i = 0; i < numMerges; i++) {
            // insertion order = the order pairs are first counted, which breaks ties as Python's max does
            Map<List<Integer>, Integer> counts = new LinkedHashMap<>();
            for (List<Integer> ids : chunks) {
                for (int j = 0; j + 1 < ids.size(); j++) {
                    counts.merge(List.of(ids.get(j), ids.get(j + 1)), 1, Integer::sum);
                }
            }
            if (counts.isEmpty()) break;
            List<Integer> best = null;
            for (Map.Entry<List<Integer>, Integer> e : counts.entrySet()) {
                if (best == null || e.getValue() > counts.get(best)) best = e.getKey();
            }
            int id = BpeTokenizer.BYTES + i;
            for (int c = 0; c < chunks.size(); c++) chunks.set(c, merge(chunks.get(c), best, id));
            merges.add(new int[]{best.get(0), best.get(1)});
        }
        return merges.toArray(new int[0][]);
    }

    /** minbpe's merge: non-overlapping occurrences of {@code pair}, left to right, become {@code id}. */
    static List<Integer> merge(List<Integer> ids, List<Integer> pair, int id) {
        List<Integer> out = new ArrayList<>(ids.size());
        for (int i = 0; i < ids.size(); ) {
            if (i + 1 < ids.size() && ids.get(i).equals(pair.get(0)) && ids.get(i + 1).equals(pair.get(1))) {
                out.add(id);
                i += 2;
            } else {
                out.add(ids.get(i++));
            }
        }
        return out;
    }

    /** minbpe's encoding of one chunk: merge the learned pair with the lowest id, until none is left. */
    static List<Integer> encodeChunk(byte[] bytes, int[][] merges) {
        List<Integer> ids = new ArrayList<>();
        for (byte b : bytes) ids.add(b & 0xFF);
        while (ids.size() >= 2) {
            int bestRank = Integer.MAX_VALUE;
            for (int j = 0; j + 1 < ids.size(); j++) {
                for (int r = 0; r < Math.min(bestRank, merges.length); r++) {
                    if (merges[r][0] == ids.get(j) && merges[r][1] == ids.get(j + 1)) bestRank = r;
                }
            }
            if (bestRank == Integer.MAX_VALUE) break;
            ids = merge(ids, List.of(merges[bestRank][0], merges[bestRank][1]), BpeTokenizer.BYTES + bestRank);
        }
        return ids;
    }
}
