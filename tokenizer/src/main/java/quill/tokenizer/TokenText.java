package quill.tokenizer;

import java.util.Arrays;

/**
 * How one token reads on its own, for pictures and listings: its bytes as text, except that bytes
 * which are not a whole character (a BPE token may hold the first two bytes of an emoji) are written
 * {@code \xNN}, so that they stay visible and tell apart, where decoding would print U+FFFD.
 */
public final class TokenText {
    private TokenText() {
    }

    /** {@code bytes} as text, with each byte outside a whole UTF-8 character written {@code \xNN}. */
    public static String of(byte[] bytes) {
        StringBuilder text = new StringBuilder(bytes.length);
        int i = 0;
        while (i < bytes.length) {
            int lead = bytes[i] & 0xFF;
            int need = lead < 0x80 ? 0 : Utf8.continuationBytes(lead);
            if (lead < 0x80 || need > 0 && whole(bytes, i, need)) {
                text.append(Utf8.decode(Arrays.copyOfRange(bytes, i, i + need + 1), need + 1));
                i += need + 1;
            } else {
                text.append(String.format("\\x%02X", lead));
                i++;
            }
        }
        return text.toString();
    }

    /** Whether the {@code need} bytes after {@code bytes[i]} are there and continue its character. */
    private static boolean whole(byte[] bytes, int i, int need) {
        if (i + need >= bytes.length) return false;
        for (int k = 0; k < need; k++) {
            if (!Utf8.fits(bytes[i] & 0xFF, k, bytes[i + 1 + k] & 0xFF)) return false;
        }
        return true;
    }
}
