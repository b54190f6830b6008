package quill.autograd;

/**
 * Rotary position embeddings (Su et al. 2021, "RoFormer"), in the GPT-NeoX layout the reference uses: channel
 * i of a head and channel {@code i + hs/2} form a pair that turns by the angle {@code pos * base^(-2i/hs)}.
 * A query at position m and a key at position n then meet at the angle difference {@code (m - n) * freq}:
 * their score depends on how far apart they are, not on where they are.
 */
public final class Rope {
    private final int half;
    private final double[] cos, sin;   // (positions, hs/2)
    private final float[] cosF, sinF;  // the same in float, for float32 training

    /** Angles for positions 0..positions-1 of heads of {@code headSize} channels (even). */
    public Rope(int headSize, double base, int positions) {
        if (headSize % 2 != 0) throw new IllegalArgumentException("rope needs an even head size, got " + headSize);
        this.half = headSize / 2;
        this.cos = new double[positions * half];
        this.sin = new double[positions * half];
        for (int p = 0; p < positions; p++) {
            for (int i = 0; i < half; i++) {
                double angle = p * Math.pow(base, -2.0 * i / headSize);       // a[p, i] = p * inv_freq[i]
                cos[p * half + i] = Math.cos(angle);
                sin[p * half + i] = Math.sin(angle);
            }
        }
        this.cosF = new float[cos.length];
        this.sinF = new float[sin.length];
        for (int i = 0; i < cos.length; i++) {
            cosF[i] = (float) cos[i];
            sinF[i] = (float) sin[i];
        }
    }

    /**
     * Turns the head at {@code v[at..at+hs)} in place to position {@code pos}:
     * {@code x' = x cos + rotate_half(x) sin}, {@code rotate_half(x) = cat(-x2, x1)}; with {@code back}, by the
     * opposite angle (the rotation's transpose: what the backward pass applies to a gradient).
     */
    void rotate(double[] v, int at, int pos, boolean back) {
        checkPosition(pos);
        for (int i = 0; i < half; i++) {
            double c = cos[pos * half + i], s = back ? -sin[pos * half + i] : sin[pos * half + i];
            double x1 = v[at + i], x2 = v[at + half + i];
            v[at + i] = x1 * c - x2 * s;                                        // x1' = x1 cos - x2 sin
            v[at + half + i] = x2 * c + x1 * s;                                 // x2' = x2 cos + x1 sin
        }
    }

    /** As {@link #rotate(double[], int, int, boolean)}, in float. */
    void rotate(float[] v, int at, int pos, boolean back) {
        checkPosition(pos);
        int p = pos * half;
        float sign = back ? -1 : 1;
        for (int i = 0; i < half; i++) {
            float c = cosF[p + i], s = sign * sinF[p + i];
            float x1 = v[at + i], x2 = v[at + half + i];
            v[at + i] = x1 * c - x2 * s;                                        // x1' = x1 cos - x2 sin
            v[at + half + i] = x2 * c + x1 * s;                                 // x2' = x2 cos + x1 sin
        }
    }

    /** Fails unless the tables reach position {@code pos}. */
    void checkPosition(int pos) {
        if (pos * half >= cos.length) {
            throw new IllegalArgumentException("rope: position " + pos + " is beyond the " + cos.length / half
                    + " it was made for");
        }
    }
}
