package quill.train;

import org.junit.jupiter.api.Test;
import quill.model.Gpt;
import quill.model.GptConfig;
import quill.tokenizer.CharTokenizer;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The whole-split loss: every token predicted once, the same figure however the windows are shared out. */
class FullEvalTest {
    private static final String TEXT =
            "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n";

    @Test
    void everyTokenIsPredictedOnceInWindowsOfTheBlockSize() {
        CharTokenizer tok = CharTokenizer.fromCorpus(TEXT);
        int[] tokens = tok.encode(TEXT.repeat(9));                         // 9 * 84 tokens: a short last window
        Gpt model = new Gpt(new GptConfig(tok.vocabSize(), 16, 1, 2, 16, 0.0, true), 3);
        FullEval eval = new FullEval(tokens, tok);

        // by hand: one window at a time, the last one shorter
        double total = 0;
        for (int start = 0; start < tokens.length - 1; start += 16) {
            int len = Math.min(16, tokens.length - 1 - start);
            int[][] x = {Arrays.copyOfRange(tokens, start, start + len)};
            int[][] y = {Arrays.copyOfRange(tokens, start + 1, start + 1 + len)};
            total += model.loss(x, y) * len;
        }
        FullEval.Result one = eval.run(model);
        assertEquals(tokens.length - 1, one.predictions());
        assertEquals(tokens.length - 1, one.characters());
        assertEquals(total / (tokens.length - 1), one.loss(), 1e-5);
        assertEquals(one.loss() / Math.log(2), one.bitsPerChar(), 1e-12);  // one character a token
        assertEquals(Math.exp(one.loss()), one.perplexity(), 1e-12);
        try (DataParallel two = new DataParallel(model, 2)) {
            assertEquals(one.loss(), eval.run(two).loss(), 1e-6);
        }
    }

    /** Bits per character count characters, not tokens: a code point of two chars (an emoji) is one. */
    @Test
    void bitsPerCharacterCountCodePoints() {
        String text = "a🙂b🙂ab";
        CharTokenizer tok = CharTokenizer.fromCorpus(text);
        Gpt model = new Gpt(new GptConfig(tok.vocabSize(), 4, 1, 1, 8, 0.0, true), 1);
        FullEval.Result r = new FullEval(tok.encode(text), tok).run(model);
        assertEquals(5, r.characters());
        assertEquals(r.loss() / Math.log(2), r.bitsPerChar(), 1e-12);     // 5 predictions, 5 characters
    }

    @Test
    void aSplitWithNothingToPredictIsRefused() {
        CharTokenizer tok = CharTokenizer.fromCorpus("ab");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new FullEval(new int[]{1}, tok));
        assertEquals("the split holds 1 token: at least 2 are needed to predict one", e.getMessage());
    }
}
