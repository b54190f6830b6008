package quill.data;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A dictionary's entries, for fine-tuning on whole entries and holding whole entries out for validation
 * ({@code quill prepare --train-entries N --val-entries M}).
 *
 * <p>An entry starts at a headword line, at the start of the text or after a blank line: a capital letter, then
 * letters, spaces, apostrophes, dots or hyphens, a comma, a space and a part of speech ending in a dot
 * ({@code ABASEMENT, n.}, {@code BABE or BABY, n.}, {@code ZIGZAG, v.t.}). It runs to the next entry's headword
 * line, its quotations and blank lines included. What comes before the first entry (a title page, a preface) is
 * no entry. On {@code ../shared/data/devils_dictionary.txt} this finds 983 entries, ABASEMENT to ZOOLOGY.
 */
public final class Entries {
    private static final Pattern HEADWORD =
            Pattern.compile("(?m)(?:\\A|(?<=\\n\\n))[A-Z][A-Za-z' .-]*, [a-z][a-z.]*\\.(?: |$)");

    private Entries() {
    }

    /** The entries of {@code text}, in order, each from its headword line up to the next one. */
    public static List<String> split(String text) {
        List<Integer> starts = new ArrayList<>();
        Matcher m = HEADWORD.matcher(text);
        while (m.find()) starts.add(m.start());
        List<String> entries = new ArrayList<>();
        for (int i = 0; i < starts.size(); i++) {
            entries.add(text.substring(starts.get(i), i + 1 < starts.size() ? starts.get(i + 1) : text.length()));
        }
        return entries;
    }

    /**
     * The training text and the validation text: the last {@code valEntries} entries are held out, and the training
     * text is the first {@code trainEntries} (0: all the others). Too few entries is an error naming the counts.
     */
    public static String[] select(String text, int trainEntries, int valEntries, Object source) {
        List<String> entries = split(text);
        int available = entries.size() - valEntries;
        if (valEntries < 1 || trainEntries < 0) {
            throw new IllegalArgumentException("--val-entries must be at least 1 and --train-entries not negative");
        }
        if (available < Math.max(1, trainEntries)) {
            throw new IllegalArgumentException(source + " has " + entries.size() + " entries (headword lines such as"
                    + " 'WORD, n.  ...' after a blank line): too few for " + (trainEntries == 0 ? "at least one"
                    : String.valueOf(trainEntries)) + " to train on and " + valEntries + " held out");
        }
        int train = trainEntries == 0 ? available : trainEntries;
        return new String[]{String.join("", entries.subList(0, train)),
                String.join("", entries.subList(entries.size() - valEntries, entries.size()))};
    }
}
