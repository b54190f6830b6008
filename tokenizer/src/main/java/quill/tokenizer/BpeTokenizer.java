package quill.tokenizer;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetEncoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Byte-level byte-pair encoding (BPE), as GPT-2 and GPT-4 tokenize and exactly as Karpathy's minbpe
 * defines it, so that a learner can check one against the other.
 *
 * <p>Ids 0 to 255 are the byte values: any text is its UTF-8 bytes, so nothing is ever out of the
 * vocabulary. Training (Sennrich et al. 2016, arXiv:1508.07909; {@link BpeTrainer}) then counts adjacent
 * pairs of ids and mints id 256 for the most frequent pair, 257 for the next most frequent pair of the
 * text so merged, and so on: each merge makes the text one token shorter wherever the pair occurs. A
 * frequent word ends up one token; a rare one stays several pieces; an emoji's four bytes may stay four
 * tokens. The text is first cut into chunks by a {@link SplitPattern} and pairs never cross a chunk.
 *
 * <p>Encoding replays the merges: within each chunk, repeatedly merge the adjacent pair that was learned
 * first (the lowest id), until no learned pair is left. Decoding concatenates each id's bytes and reads
 * them as UTF-8; a byte sequence that is not UTF-8 (a model can emit one: half an emoji) decodes to
 * U+FFFD, as Python's {@code bytes.decode("utf-8", errors="replace")} does ({@link Utf8}).
 *
 * <p>Special tokens (such as GPT-2's {@code <|endoftext|>}) take the ids after the merges; the exact
 * string in a text always encodes to its one id, never split.
 *
 * <p>JSON: {@code {"type": "bpe", "pattern": REGEX, "merges": [[l, r], ...], "special_tokens": {s: id}}},
 * where merge i turns the pair (l, r) into id 256 + i, as in minbpe's {@code .model} files.
 */
public final class BpeTokenizer implements Tokenizer {

    /** The {@code "type"} this tokenizer has in JSON. */
    static final String TYPE = "bpe";
    /** Ids below this are the raw byte values. */
    public static final int BYTES = 256;
    /** Token files store 16-bit ids, and {@link BpeTrainer} packs a pair of ids into 32 bits. */
    public static final int MAX_VOCAB_SIZE = 65_536;

    /** Chunk encodings remembered, at most: a text repeats the same few thousand words. */
    private static final int CACHE_LIMIT = 200_000;
    /** Chunks longer than this (a long run of spaces, a whole text without splitting) are not remembered. */
    private static final int CACHE_MAX_CHUNK = 64;
    /** Chunks longer than this queue their merges in buckets by id ({@link RankBuckets}), not in a heap. */
    private static final int LONG_CHUNK = 1024;

    private final SplitPattern split;
    private final int[][] merges;
    /** (left, right) -> the id it merges into. */
    private final PairIds mergedId;
    /** The bytes of every id, the special tokens' included. */
    private final byte[][] vocab;
    private final Map<String, Integer> specialIds;
    private final Pattern specialPattern; // null when there are no special tokens
    /** One per thread, so that encoding never waits for a lock. */
    private final ThreadLocal<ChunkCache> caches = ThreadLocal.withInitial(() -> new ChunkCache(CACHE_LIMIT));

    private BpeTokenizer(SplitPattern split, int[][] merges, List<String> specials) {
        int vocabSize = BYTES + merges.length + specials.size();
        if (vocabSize > MAX_VOCAB_SIZE) {
            throw new IllegalArgumentException("a BPE vocabulary holds at most " + MAX_VOCAB_SIZE + " ids, this one "
                    + vocabSize);
        }
        this.split = split;
        this.merges = merges;
        this.vocab = new byte[vocabSize][];
        for (int b = 0; b < BYTES; b++) vocab[b] = new byte[]{(byte) b};
        for (int i = 0; i < merges.length; i++) {
            int id = BYTES + i;
            int left = merges[i][0];
            int right = merges[i][1];
            if (left < 0 || right < 0 || left >= id || right >= id) {
                throw new IllegalArgumentException("merge " + i + " is [" + left + ", " + right
                        + "], but only ids below " + id + " exist before it");
            }
            vocab[id] = concat(vocab[left], vocab[right]);
        }
        this.mergedId = new PairIds(merges); // checks that no pair is learned twice
        this.specialIds = new LinkedHashMap<>();
        for (String special : specials) {
            if (special.isEmpty()) throw new IllegalArgumentException("a special token cannot be the empty string");
            int id = BYTES + merges.length + specialIds.size();
            if (specialIds.putIfAbsent(special, id) != null) {
                throw new IllegalArgumentException("special token '" + special + "' is given twice");
            }
            vocab[id] = special.getBytes(StandardCharsets.UTF_8);
        }
        // the longest special first, so that one which contains another wins
        this.specialPattern = specials.isEmpty() ? null : Pattern.compile(specials.stream()
                .sorted(Comparator.comparingInt(String::length).reversed())
                .map(Pattern::quote).collect(Collectors.joining("|")));
    }

    /**
     * Learns {@code vocabSize - 256} merges from {@code text}, cut into chunks by {@code splitPattern}
     * ({@code gpt4}, {@code gpt2} or {@code none}).
     */
    public static BpeTokenizer train(String text, int vocabSize, String splitPattern) {
        if (vocabSize < BYTES || vocabSize > MAX_VOCAB_SIZE) {
            throw new IllegalArgumentException("a BPE vocabulary size must be between " + BYTES
                    + " (the byte values) and " + MAX_VOCAB_SIZE + " (16-bit ids), got " + vocabSize);
        }
        SplitPattern split = SplitPattern.named(splitPattern);
        if (text.isEmpty()) throw new IllegalArgumentException("cannot train a BPE tokenizer on empty text");
        int[][] merges = BpeTrainer.train(text, vocabSize - BYTES, split);
        if (merges.length < vocabSize - BYTES) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "the text is too short for a vocabulary of %,d: after %,d merges no two tokens are left side"
                            + " by side (at most %,d ids)",
                    vocabSize, merges.length, BYTES + merges.length));
        }
        return new BpeTokenizer(split, merges, List.of());
    }

    /** This tokenizer with {@code specials} added, taking the ids after the merges in the order given. */
    public BpeTokenizer withSpecialTokens(List<String> specials) {
        List<String> all = new ArrayList<>(specialIds.keySet());
        all.addAll(specials);
        return new BpeTokenizer(split, merges, all);
    }

    /** Reads what {@link #toJson()} wrote; the merges and special tokens are checked. */
    public static BpeTokenizer fromJson(JsonObject json) {
        JsonElement pattern = json.get("pattern");
        JsonElement merges = json.get("merges");
        if (pattern == null || !pattern.isJsonPrimitive() || merges == null || !merges.isJsonArray()) {
            throw new IllegalArgumentException("a bpe tokenizer needs a \"pattern\" string and a \"merges\" list");
        }
        JsonArray list = merges.getAsJsonArray();
        int[][] pairs = new int[list.size()][];
        for (int i = 0; i < pairs.length; i++) {
            JsonElement pair = list.get(i);
            if (!pair.isJsonArray() || pair.getAsJsonArray().size() != 2 || !isInt(pair.getAsJsonArray().get(0))
                    || !isInt(pair.getAsJsonArray().get(1))) {
                throw new IllegalArgumentException("merge " + i + " must be a pair of ids [left, right], got " + pair);
            }
            pairs[i] = new int[]{pair.getAsJsonArray().get(0).getAsInt(), pair.getAsJsonArray().get(1).getAsInt()};
        }
        // special tokens must take the ids right after the merges, in some order
        List<String> specials = new ArrayList<>();
        JsonElement special = json.get("special_tokens");
        if (special != null && special.isJsonObject()) {
            Map<Integer, String> byId = new HashMap<>();
            for (Map.Entry<String, JsonElement> e : special.getAsJsonObject().entrySet()) {
                if (!isInt(e.getValue())) throw new IllegalArgumentException("special token '" + e.getKey()
                        + "' needs an id");
                byId.put(e.getValue().getAsInt(), e.getKey());
            }
            for (int id = BYTES + pairs.length; byId.containsKey(id); id++) specials.add(byId.get(id));
            if (specials.size() != byId.size()) {
                throw new IllegalArgumentException("special token ids must be " + (BYTES + pairs.length) + ", "
                        + (BYTES + pairs.length + 1) + ", ... (right after the merges), got " + byId.keySet());
            }
        }
        return new BpeTokenizer(SplitPattern.ofRegex(pattern.getAsString()), pairs, specials);
    }

    private static boolean isInt(JsonElement e) {
        return e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber()
                && e.getAsDouble() == Math.rint(e.getAsDouble()) && Math.abs(e.getAsDouble()) < Integer.MAX_VALUE;
    }

    @Override
    public JsonObject toJson() {
        JsonObject json = new JsonObject();
        json.addProperty("type", TYPE);
        json.addProperty("pattern", split.regex());
        JsonArray list = new JsonArray(merges.length);
        for (int[] pair : merges) {
            JsonArray p = new JsonArray(2);
            p.add(pair[0]);
            p.add(pair[1]);
            list.add(p);
        }
        json.add("merges", list);
        JsonObject special = new JsonObject();
        specialIds.forEach(special::addProperty);
        json.add("special_tokens", special);
        return json;
    }

    @Override
    public int[] encode(String text) {
        IntList ids = new IntList(text.length() / 2 + 1);
        if (specialPattern == null) {
            encodeOrdinary(text, ids);
            return ids.toArray();
        }
        Matcher m = specialPattern.matcher(text);
        int start = 0;
        while (m.find()) {
            encodeOrdinary(text.substring(start, m.start()), ids);
            ids.add(specialIds.get(m.group()));
            start = m.end();
        }
        encodeOrdinary(text.substring(start), ids);
        return ids.toArray();
    }

    /** Text without special tokens: chunk by chunk, each chunk's ids remembered when it is short. */
    private void encodeOrdinary(String text, IntList out) {
        ChunkCache cache = caches.get();
        split.forEachChunk(text, (start, end) -> {
            boolean cached = end - start <= CACHE_MAX_CHUNK;
            int[] ids = cached ? cache.get(text, start, end) : null;
            if (ids == null) {
                ids = encodeChunk(utf8(text.substring(start, end)));
                if (cached) cache.put(text, start, end, ids);
            }
            out.addAll(ids);
        });
    }

    /**
     * The ids of one chunk's bytes. minbpe merges the learned pair with the lowest id everywhere, then
     * looks again; a queue ordered by (merged id, position) does the same in one pass, because a merge
     * only creates pairs that contain the new id, and those were learned after it.
     */
    private int[] encodeChunk(byte[] bytes) {
        int n = bytes.length;
        int[] ids = new int[n];
        int[] next = new int[n];
        int[] prev = new int[n];
        MergeQueue queue = n > LONG_CHUNK ? new RankBuckets(merges.length) : new LongHeap();
        for (int i = 0; i < n; i++) {
            ids[i] = bytes[i] & 0xFF;
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
            if (i > 0) offer(queue, ids[i - 1], ids[i], i - 1);
        }
        int length = n;
        while (!queue.isEmpty()) {
            long entry = queue.poll();
            int p = (int) entry;
            int id = (int) (entry >>> 32);
            int q = next[p];
            if (ids[p] < 0 || q < 0 || mergedId.get(ids[p], ids[q]) != id) continue;
            ids[p] = id; // the pair at p merges: q's token joins p's
            ids[q] = -1;
            next[p] = next[q];
            if (next[p] >= 0) prev[next[p]] = p;
            length--;
            if (prev[p] >= 0) offer(queue, ids[prev[p]], id, prev[p]);
            if (next[p] >= 0) offer(queue, id, ids[next[p]], p);
        }
        int[] out = new int[length];
        for (int p = 0, i = 0; p >= 0 && i < length; p = next[p]) out[i++] = ids[p];
        return out;
    }

    private void offer(MergeQueue queue, int left, int right, int position) {
        int id = mergedId.get(left, right);
        if (id >= 0) queue.add((long) id << 32 | position);
    }

    /** Concatenates the ids' bytes and decodes them as UTF-8, with U+FFFD for each invalid sequence. */
    @Override
    public String decode(int[] ids) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(ids.length * 4);
        for (int i = 0; i < ids.length; i++) bytes.writeBytes(bytes(ids[i], i));
        return Utf8.decode(bytes.toByteArray(), bytes.size());
    }

    @Override
    public byte[] bytes(int id) {
        return bytes(id, 0).clone();
    }

    private byte[] bytes(int id, int position) {
        if (id < 0 || id >= vocab.length) {
            throw new IllegalArgumentException("token id " + id + " at position " + position
                    + " is outside the vocabulary [0, " + vocab.length + ")");
        }
        return vocab[id];
    }

    @Override
    public int vocabSize() {
        return vocab.length;
    }

    /** The split pattern: gpt4, gpt2, none or custom. */
    public String splitPattern() {
        return split.name();
    }

    /** The merges in order: {@code merges()[i]} is the pair (left id, right id) that became id 256 + i. */
    public int[][] merges() {
        int[][] copy = new int[merges.length][];
        for (int i = 0; i < merges.length; i++) copy[i] = merges[i].clone();
        return copy;
    }

    /** The special tokens and their ids, in id order. */
    public Map<String, Integer> specialTokens() {
        return java.util.Collections.unmodifiableMap(specialIds);
    }

    /** UTF-8 bytes; a lone surrogate (half a character, not Unicode) becomes U+FFFD's bytes, not Java's '?'. */
    static byte[] utf8(String text) {
        CharsetEncoder encoder = StandardCharsets.UTF_8.newEncoder()
                .onMalformedInput(CodingErrorAction.REPLACE)
                .replaceWith(new byte[]{(byte) 0xEF, (byte) 0xBF, (byte) 0xBD});
        try {
            ByteBuffer buffer = encoder.encode(CharBuffer.wrap(text));
            return Arrays.copyOf(buffer.array(), buffer.limit());
        } catch (CharacterCodingException e) {
            throw new IllegalStateException("a replacing encoder does not throw", e);
        }
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] ab = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, ab, a.length, b.length);
        return ab;
    }

    /** A growable list of ints: a long text's ids without boxing. */
    private static final class IntList {
        private int[] values;
        private int size;

        IntList(int capacity) {
            values = new int[Math.max(capacity, 16)];
        }

        void add(int value) {
            if (size == values.length) values = Arrays.copyOf(values, 2 * size);
            values[size++] = value;
        }

        void addAll(int[] more) {
            if (size + more.length > values.length) {
                values = Arrays.copyOf(values, Math.max(2 * values.length, size + more.length));
            }
            System.arraycopy(more, 0, values, size, more.length);
            size += more.length;
        }

        int[] toArray() {
            return Arrays.copyOf(values, size);
        }
    }
}
