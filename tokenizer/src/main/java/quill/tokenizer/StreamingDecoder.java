package quill.tokenizer;

import java.util.Arrays;

/**
 * Turns ids into text one at a time, for printing a sample as it is drawn. With BPE a character's
 * bytes may span two tokens (an emoji's four bytes, say, as 2 + 2): decoding each token alone would
 * print two U+FFFD instead of the emoji. So the bytes of an unfinished character wait here until the
 * next token completes them. The pieces put together are always exactly {@link Tokenizer#decode} of
 * all the ids (a sequence that can never be completed is U+FFFD as soon as that is certain).
 */
public final class StreamingDecoder {
    private static final byte[] NONE = new byte[0];

    private final Tokenizer tokenizer;
    private byte[] pending = NONE;

    public StreamingDecoder(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /** The text that token {@code id} completes: possibly empty, possibly more than its own bytes. */
    public String next(int id) {
        byte[] token = tokenizer.bytes(id);
        byte[] bytes = Arrays.copyOf(pending, pending.length + token.length);
        System.arraycopy(token, 0, bytes, pending.length, token.length);
        int complete = completeLength(bytes);
        pending = Arrays.copyOfRange(bytes, complete, bytes.length);
        return Utf8.decode(bytes, complete);
    }

    /** What is still waiting, as U+FFFD (the end came before the character did); the decoder is then empty. */
    public String finish() {
        String rest = Utf8.decode(pending, pending.length);
        pending = NONE;
        return rest;
    }

    /**
     * The length of {@code bytes} without a trailing, unfinished but so far valid UTF-8 sequence: a lead
     * byte and fewer continuation bytes than it announces, each in the range the lead allows.
     */
    static int completeLength(byte[] bytes) {
        int n = bytes.length;
        for (int start = n - 1; start >= Math.max(0, n - 3); start--) {
            int lead = bytes[start] & 0xFF;
            if ((lead & 0xC0) == 0x80) continue; // a continuation byte: look further back for the lead
            int need = Utf8.continuationBytes(lead);
            if (n - start > need) return n; // the last sequence is whole (or invalid already)
            for (int i = start + 1; i < n; i++) {
                if (!Utf8.fits(lead, i - start - 1, bytes[i] & 0xFF)) return n;
            }
            return start;
        }
        return n;
    }
}
