package quill.tokenizer;

/**
 * UTF-8 decoding that never fails: each invalid piece becomes one U+FFFD, cut exactly where Python's
 * {@code bytes.decode("utf-8", errors="replace")} cuts it (the Unicode Standard's "maximal subpart"
 * practice, chapter 3.9): a lead byte and the valid continuation bytes after it, up to the first byte
 * that does not fit, make one U+FFFD, and that byte starts over. Java's own decoder differs on
 * encoded surrogates ({@code ED A0 80}: one U+FFFD there, three in Python), and a learner comparing
 * with minbpe should see the same text.
 */
final class Utf8 {
    private Utf8() {
    }

    static String decode(byte[] bytes, int length) {
        StringBuilder text = new StringBuilder(length);
        int i = 0;
        while (i < length) {
            int lead = bytes[i] & 0xFF;
            if (lead < 0x80) {
                text.append((char) lead);
                i++;
                continue;
            }
            int need = continuationBytes(lead);
            if (need == 0) { // a continuation byte out of place, or a byte UTF-8 never uses
                text.append('\uFFFD');
                i++;
                continue;
            }
            int codePoint = lead & (0x3F >> need);
            int j = i + 1;
            boolean whole = true;
            for (int k = 0; k < need; k++, j++) {
                if (j >= length || !fits(lead, k, bytes[j] & 0xFF)) {
                    whole = false;
                    break;
                }
                codePoint = codePoint << 6 | (bytes[j] & 0x3F);
            }
            if (whole) text.appendCodePoint(codePoint);
            else text.append('\uFFFD');
            i = j;
        }
        return text.toString();
    }

    /** How many continuation bytes follow {@code lead}; 0 if it cannot start a multi-byte character. */
    static int continuationBytes(int lead) {
        if (lead >= 0xC2 && lead <= 0xDF) return 1;
        if (lead >= 0xE0 && lead <= 0xEF) return 2;
        if (lead >= 0xF0 && lead <= 0xF4) return 3;
        return 0;
    }

    /**
     * Whether {@code b} may be continuation byte {@code k} (0 = the first) after {@code lead}. The first
     * one's range depends on the lead, which rules out overlong forms (E0 80..9F, F0 80..8F), surrogates
     * (ED A0..BF) and code points past U+10FFFF (F4 90..BF).
     */
    static boolean fits(int lead, int k, int b) {
        int low = k > 0 ? 0x80 : lead == 0xE0 ? 0xA0 : lead == 0xF0 ? 0x90 : 0x80;
        int high = k > 0 ? 0xBF : lead == 0xED ? 0x9F : lead == 0xF4 ? 0x8F : 0xBF;
        return b >= low && b <= high;
    }
}
