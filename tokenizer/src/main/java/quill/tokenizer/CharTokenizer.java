package quill.tokenizer;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * One token per character: the vocabulary is the sorted set of distinct characters of a corpus, and a
 * character's id is its position in that sorted list. This is nanoGPT's shakespeare_char tokenizer
 * ({@code chars = sorted(list(set(data)))}); on Tiny Shakespeare it gives 65 ids, {@code '\n'} = 0,
 * {@code ' '} = 1, ..., {@code 'z'} = 64.
 *
 * <h2>Why Unicode code points, not Java {@code char}s</h2>
 * A Java {@code String} is a sequence of UTF-16 code units. Characters outside the Basic Multilingual
 * Plane (emoji such as U+1F600, rarer CJK ideographs, ...) take two units, a <em>surrogate pair</em>,
 * and neither half is a character on its own. A tokenizer over {@code char}s would give each half its
 * own id, and a model that sampled one half without the other would print garbage. A code point is
 * the unit Unicode gives meaning to, and it is what Python's {@code str} iterates over, so counting
 * code points gives exactly nanoGPT's numbers. (Some things a reader sees as one character are
 * several code points, e.g. {@code e} followed by a combining accent; those stay several tokens.)
 *
 * <h2>Why sorted</h2>
 * Sorting makes the ids a function of the <em>set</em> of characters only: the same text, or any text
 * with the same characters, always gives the same ids, whatever order they first appear in. Python
 * sorts strings by code point, so our ids equal nanoGPT's, and token files and reference dumps agree.
 * We sort the code points as integers; {@code String.compareTo} would not do, because it compares
 * UTF-16 units, which puts U+1F600 (units D83D DE00) before U+FFFD. The sorted array also makes
 * encoding a binary search: the id of a code point is the index where {@link Arrays#binarySearch}
 * finds it.
 *
 * <h2>Extending a vocabulary</h2>
 * A model fine-tuned on new text keeps its ids: {@link #extend} appends the characters the new text has and the
 * vocabulary lacks after the old ids (sorted among themselves), so every old id keeps its meaning and its trained
 * embedding. The appended characters break the sorted order, so they are looked up in a small map of their own;
 * in JSON they are {@code "added"}, beside the sorted {@code "chars"}.
 */
public final class CharTokenizer implements Tokenizer {

    /** The {@code "type"} this tokenizer has in JSON. */
    static final String TYPE = "char";

    /**
     * The vocabulary: id i stands for {@code codePoints[i]}; the first {@link #sorted} are in ascending order, the
     * rest were appended by {@link #extend}.
     */
    private final int[] codePoints;
    private final int sorted;
    /** The appended code points' ids. */
    private final Map<Integer, Integer> added = new HashMap<>();

    private CharTokenizer(int[] codePoints) {
        this(codePoints, codePoints.length);
    }

    private CharTokenizer(int[] codePoints, int sorted) {
        this.codePoints = codePoints;
        this.sorted = sorted;
        for (int id = sorted; id < codePoints.length; id++) added.put(codePoints[id], id);
    }

    /** The tokenizer whose vocabulary is every distinct code point of {@code corpus}, sorted. */
    public static CharTokenizer fromCorpus(String corpus) {
        if (corpus.isEmpty()) throw new IllegalArgumentException("cannot build a vocabulary from empty text");
        return new CharTokenizer(corpus.codePoints().sorted().distinct().toArray());
    }

    /**
     * Reads {@code {"type": "char", "chars": "..."}}, where {@code chars} holds the vocabulary in id
     * order as one string (nanoGPT prints it the same way: {@code ''.join(chars)}).
     */
    public static CharTokenizer fromJson(JsonObject json) {
        JsonElement chars = json.get("chars");
        if (chars == null || !chars.isJsonPrimitive() || !chars.getAsJsonPrimitive().isString()) {
            throw new IllegalArgumentException("a char tokenizer needs a \"chars\" string holding its vocabulary");
        }
        int[] codePoints = chars.getAsString().codePoints().toArray();
        if (codePoints.length == 0) throw new IllegalArgumentException("a char tokenizer's \"chars\" is empty");
        for (int i = 1; i < codePoints.length; i++) {
            if (codePoints[i - 1] >= codePoints[i]) {
                throw new IllegalArgumentException("a char tokenizer's \"chars\" must be distinct and sorted by code"
                        + " point, but "
                        + describe(codePoints[i - 1]) + " comes before " + describe(codePoints[i]));
            }
        }
        JsonElement more = json.get("added");
        if (more == null) return new CharTokenizer(codePoints);
        if (!more.isJsonPrimitive() || !more.getAsJsonPrimitive().isString()) {
            throw new IllegalArgumentException("a char tokenizer's \"added\" must be a string of characters");
        }
        CharTokenizer base = new CharTokenizer(codePoints);
        int[] extra = more.getAsString().codePoints().toArray();
        int[] all = Arrays.copyOf(codePoints, codePoints.length + extra.length);
        for (int i = 0; i < extra.length; i++) {
            if (base.idOf(extra[i]) >= 0 || i > 0 && extra[i - 1] >= extra[i]) {
                throw new IllegalArgumentException("a char tokenizer's \"added\" must be distinct, sorted and not in"
                        + " \"chars\", but it has " + describe(extra[i]) + " there");
            }
            all[codePoints.length + i] = extra[i];
        }
        return new CharTokenizer(all, codePoints.length);
    }

    /**
     * The characters of {@code text} that this vocabulary lacks, each with how often it occurs, by code point: what
     * {@link #extend} would add.
     */
    public Map<Integer, Integer> missing(String text) {
        Map<Integer, Integer> missing = new TreeMap<>();
        text.codePoints().filter(c -> idOf(c) < 0).forEach(c -> missing.merge(c, 1, Integer::sum));
        return missing;
    }

    /**
     * This vocabulary with {@code text}'s missing characters appended as new ids (sorted by code point among
     * themselves): every id of this tokenizer means what it meant. Returns this tokenizer when nothing is missing.
     */
    public CharTokenizer extend(String text) {
        int[] extra = missing(text).keySet().stream().mapToInt(Integer::intValue).toArray();
        if (extra.length == 0) return this;
        int[] all = Arrays.copyOf(codePoints, codePoints.length + extra.length);
        System.arraycopy(extra, 0, all, codePoints.length, extra.length);
        return new CharTokenizer(all, sorted);
    }

    /** The id of a code point, or -1 when the vocabulary lacks it. */
    private int idOf(int codePoint) {
        int id = Arrays.binarySearch(codePoints, 0, sorted, codePoint);
        return id >= 0 ? id : added.getOrDefault(codePoint, -1);
    }

    /**
     * One id per code point of {@code text}. A character outside the vocabulary is an error naming
     * it and its offset counted in code points (which is also the index of its token).
     */
    @Override
    public int[] encode(String text) {
        int[] ids = new int[text.codePointCount(0, text.length())];
        for (int i = 0, offset = 0; i < ids.length; i++) {
            int codePoint = text.codePointAt(offset);
            int id = idOf(codePoint);
            if (id < 0) {
                throw new IllegalArgumentException("character " + describe(codePoint) + " at code point offset " + i
                        + " is not in the vocabulary of " + codePoints.length + " characters");
            }
            ids[i] = id;
            offset += Character.charCount(codePoint);
        }
        return ids;
    }

    @Override
    public String decode(int[] ids) {
        StringBuilder text = new StringBuilder(ids.length);
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= codePoints.length) {
                throw new IllegalArgumentException("token id " + ids[i] + " at position " + i
                        + " is outside the vocabulary [0, " + codePoints.length + ")");
            }
            text.appendCodePoint(codePoints[ids[i]]);
        }
        return text.toString();
    }

    @Override
    public byte[] bytes(int id) {
        return decode(new int[]{id}).getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public int vocabSize() {
        return codePoints.length;
    }

    @Override
    public JsonObject toJson() {
        JsonObject json = new JsonObject();
        json.addProperty("type", TYPE);
        json.addProperty("chars", new String(codePoints, 0, sorted));
        if (sorted < codePoints.length) {
            json.addProperty("added", new String(codePoints, sorted, codePoints.length - sorted));
        }
        return json;
    }

    /**
     * A character as a reader can see it: {@code 'a' (U+0061)}, {@code '\n' (U+000A)}; one that
     * would be invisible or garbled (a control or format character, an unusual space) is written
     * with Java's backslash-u escapes.
     */
    public static String describe(int codePoint) {
        String shown = switch (codePoint) {
            case '\n' -> "\\n";
            case '\t' -> "\\t";
            case '\r' -> "\\r";
            default -> isVisible(codePoint) ? Character.toString(codePoint) : escape(codePoint);
        };
        return String.format("'%s' (U+%04X)", shown, codePoint);
    }

    private static boolean isVisible(int codePoint) {
        return switch (Character.getType(codePoint)) {
            case Character.CONTROL, Character.FORMAT, Character.UNASSIGNED, Character.PRIVATE_USE,
                 Character.SURROGATE, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR -> false;
            case Character.SPACE_SEPARATOR -> codePoint == ' ';
            default -> true;
        };
    }

    /** Java's backslash-u escape, one per UTF-16 unit (two past U+FFFF), as Java source would write it. */
    private static String escape(int codePoint) {
        StringBuilder escaped = new StringBuilder();
        for (char unit : Character.toChars(codePoint)) escaped.append(String.format("\\u%04X", (int) unit));
        return escaped.toString();
    }
}
