package quill.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * How text is cut into chunks before byte-pair merging, as GPT-2 and GPT-4 do: merges never cross a
 * chunk boundary, so no token glues a word to the punctuation or spaces around it ({@code "dog."},
 * {@code "dog!"} and {@code "dog?"} would otherwise each waste a vocabulary entry).
 *
 * <p>The two regular expressions are OpenAI's (tiktoken's {@code r50k_base} and {@code cl100k_base}, as
 * minbpe's {@code GPT2_SPLIT_PATTERN} and {@code GPT4_SPLIT_PATTERN} spell them). Java's regex engine reads
 * them as Python's {@code regex} module does once {@link Pattern#UNICODE_CHARACTER_CLASS} is on:
 * {@code \s} is Unicode white space (U+00A0, U+3000, ... too), {@code (?i:...)} folds case by Unicode
 * rules, {@code \p{L}} and {@code \p{N}} are Unicode's letters and numbers, a character outside the Basic
 * Multilingual Plane is one character (never two surrogate halves), and the possessive quantifiers
 * ({@code ?+}, {@code ++}) and the lookahead {@code (?!\S)} mean what they mean there. In GPT-4's:
 * <ul>
 *   <li>{@code '(?i:[sdmt]|ll|ve|re)}: the contractions 's 'd 'm 't 'll 've 're, in any case;</li>
 *   <li>{@code [^\r\n\p{L}\p{N}]?+\p{L}+}: a word, with at most one leading non-letter (usually the space);</li>
 *   <li>{@code \p{N}{1,3}}: numbers in groups of at most three digits;</li>
 *   <li>{@code  ?[^\s\p{L}\p{N}]++[\r\n]*}: a run of punctuation, with the line breaks after it;</li>
 *   <li>{@code \s*[\r\n]}, {@code \s+(?!\S)}, {@code \s+}: white space; a run before a word leaves its
 *       last space for the word, so {@code "   x"} splits as {@code "  "}, {@code " x"}.</li>
 * </ul>
 * Every character matches one of the alternatives, so the chunks put together are the text again.
 */
public final class SplitPattern {

    /** GPT-2's pattern (minbpe's {@code GPT2_SPLIT_PATTERN}). */
    public static final String GPT2 =
            "'(?:[sdmt]|ll|ve|re)| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    /** GPT-4's pattern (minbpe's {@code GPT4_SPLIT_PATTERN}, tiktoken's cl100k_base). */
    public static final String GPT4 = "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";
    /** The names {@code --split-pattern} accepts. */
    public static final List<String> NAMES = List.of("gpt4", "gpt2", "none");

    private final String regex;
    private final Pattern pattern; // null: the whole text is one chunk

    private SplitPattern(String regex) {
        this.regex = regex;
        this.pattern = regex.isEmpty() ? null : Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS);
    }

    /** {@code gpt4}, {@code gpt2} or {@code none} (no splitting: minbpe's {@code BasicTokenizer}). */
    public static SplitPattern named(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "gpt4" -> new SplitPattern(GPT4);
            case "gpt2" -> new SplitPattern(GPT2);
            case "none" -> new SplitPattern("");
            default -> throw new IllegalArgumentException("unknown split pattern '" + name + "' (known: "
                    + String.join(", ", NAMES) + ")");
        };
    }

    /** The pattern of a saved tokenizer: any regular expression, or the empty string for none. */
    static SplitPattern ofRegex(String regex) {
        try {
            return new SplitPattern(regex);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException("the split pattern is not a valid regular expression: "
                    + e.getDescription(), e);
        }
    }

    /** The regular expression, empty for none. */
    public String regex() {
        return regex;
    }

    /** gpt4, gpt2, none, or "custom" for another expression read from a file. */
    public String name() {
        if (regex.equals(GPT4)) return "gpt4";
        if (regex.equals(GPT2)) return "gpt2";
        return regex.isEmpty() ? "none" : "custom";
    }

    /** The chunks of {@code text}, in order: Python's {@code regex.findall(pattern, text)}. */
    public List<String> split(String text) {
        List<String> chunks = new ArrayList<>();
        forEachChunk(text, (start, end) -> chunks.add(text.substring(start, end)));
        return chunks;
    }

    /** What to do with one chunk, {@code text[start, end)}. */
    @FunctionalInterface
    interface ChunkAction {
        void accept(int start, int end);
    }

    /** Calls {@code action} with each chunk of {@code text}, in order, without copying the chunks out. */
    void forEachChunk(String text, ChunkAction action) {
        if (pattern == null) {
            if (!text.isEmpty()) action.accept(0, text.length());
            return;
        }
        Matcher m = pattern.matcher(text);
        while (m.find()) action.accept(m.start(), m.end());
    }
}
