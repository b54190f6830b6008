package quill.kernels;

/**
 * Rotary position embeddings (Su et al. 2021, "RoFormer"), in the GPT-NeoX layout the reference uses: channel
 * i of a head and channel {@code i + hs/2} form a pair that turns by the angle {@code pos * base^(-2i/hs)}.
 * A query at position m and a key at position n then meet at the angle difference {@code (m - n) * freq}:
 * their score depends on how far apart they are, not on where they are.
 *
 * <p>This class holds the angles' tables; {@link QkNormRopeKernel#rotate} turns a head by them:
 * {@code x' = x cos + rotate_half(x) sin}, {@code rotate_half(x) = cat(-x2, x1)}.
 */
public final class Rope {
    final int half;
    final double[] cos, sin;   // (positions, hs/2)
    final float[] cosF, sinF;  // the same in float, for float32 training

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

    /** Fails unless the tables reach position {@code pos}. */
    public void checkPosition(int pos) {
        if (pos * half >= cos.length) {
            throw new IllegalArgumentException("rope: position " + pos + " is beyond the " + cos.length / half
                    + " it was made for");
        }
    }
}
