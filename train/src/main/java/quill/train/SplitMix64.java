package quill.train;

/**
 * A small seeded random generator whose whole state is one {@code long}, so a checkpoint can save
 * it and a resumed run continue the exact same stream ({@link java.util.Random} hides its state).
 *
 * <p>SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
 * OOPSLA 2014): the state advances by a fixed odd constant and each output is that state through
 * a 64-bit mixing function. It passes BigCrush and is what {@code java.util.SplittableRandom} uses.
 */
public final class SplitMix64 {
    private static final long GOLDEN_GAMMA = 0x9e3779b97f4a7c15L;

    private long state;

    public SplitMix64(long seed) {
        this.state = seed;
    }

    /** The whole state: {@code new SplitMix64(s.state())} continues exactly where {@code s} is. */
    public long state() {
        return state;
    }

    public void setState(long state) {
        this.state = state;
    }

    /** 64 random bits. */
    public long nextLong() {
        long z = (state += GOLDEN_GAMMA);
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** Uniform in {@code [0, bound)}, without modulo bias (rejection of the uneven top range). */
    public int nextInt(int bound) {
        if (bound <= 0) throw new IllegalArgumentException("bound must be positive, got " + bound);
        // limit = 2^64 mod bound (or bound itself when bound divides 2^64); the top `limit` values of the
        // 64-bit range would make the low residues likelier, so they are drawn again.
        long limit = Long.remainderUnsigned(-1L, bound) + 1;
        while (true) {
            long r = nextLong();
            if (limit == bound || Long.compareUnsigned(r, -limit) < 0) {
                return (int) Long.remainderUnsigned(r, bound);
            }
        }
    }

    /** Uniform in {@code [0, 1)} with 53 random bits. */
    public double nextDouble() {
        return (nextLong() >>> 11) * 0x1.0p-53;
    }
}
