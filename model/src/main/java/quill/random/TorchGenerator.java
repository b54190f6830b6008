package quill.random;

import quill.autograd.Tensor;

import java.util.Arrays;

/**
 * PyTorch's CPU random generator, draw for draw: the 32-bit Mersenne Twister (Matsumoto and Nishimura,
 * "Mersenne Twister: a 623-dimensionally equidistributed uniform pseudo-random number generator", ACM
 * TOMACS 1998) that {@code torch.manual_seed} seeds, and the way PyTorch 1.13 turns its output into
 * uniform floats, normal floats ({@code Tensor.normal_}) and integers ({@code torch.randint}).
 *
 * <p>Why Quill has it: with the same seed, Quill draws the same initial weights and the same training and
 * evaluation batches as nanoGPT, so a Quill run and a nanoGPT run can be compared step for step, and the
 * only differences left are float rounding.
 */
public final class TorchGenerator {
    private static final int N = 624, M = 397;
    private static final int MATRIX_A = 0x9908b0df, UPPER_MASK = 0x80000000, LOWER_MASK = 0x7fffffff;

    private final long seed;
    private final int[] mt = new int[N];
    private int next;
    /**
     * The second value of the last Box-Muller pair of the scalar normal path,
     * which PyTorch keeps for the next call.
     */
    private double cachedNormal = Double.NaN;

    /** {@code torch.manual_seed(seed)}: the twister seeded with the low 32 bits, as {@code std::mt19937(seed)}. */
    public TorchGenerator(long seed) {
        this.seed = seed;
        mt[0] = (int) seed;
        for (int i = 1; i < N; i++) mt[i] = 1812433253 * (mt[i - 1] ^ (mt[i - 1] >>> 30)) + i;
        next = N;
    }

    /** The seed it was made with ({@code torch.initial_seed()}). */
    public long seed() {
        return seed;
    }

    /** The next 32 random bits, as an unsigned value ({@code generator->random()}). */
    public long random() {
        if (next == N) twist();
        int y = mt[next++];
        y ^= y >>> 11;                        // tempering
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= y >>> 18;
        return Integer.toUnsignedLong(y);
    }

    /** 64 random bits from two draws, the first in the high half ({@code generator->random64()}). */
    public long random64() {
        long hi = random();
        return hi << 32 | random();
    }

    /** The next 624 words of the twister's state. */
    private void twist() {
        for (int i = 0; i < N; i++) {
            int y = (mt[i] & UPPER_MASK) | (mt[(i + 1) % N] & LOWER_MASK);
            mt[i] = mt[(i + M) % N] ^ (y >>> 1) ^ ((y & 1) != 0 ? MATRIX_A : 0);
        }
        next = 0;
    }

    /** {@code torch.randint(high, (1,))} for high below 2^32: a draw modulo high. */
    public int randint(int high) {
        if (high < 1) throw new IllegalArgumentException("randint needs a positive bound, got " + high);
        return (int) (random() % high);
    }

    /** A float uniform in [0, 1): the low 24 bits of a draw, as {@code at::uniform_real_distribution<float>}. */
    public float uniformFloat() {
        return (random() & 0xFFFFFF) * 0x1.0p-24f;
    }

    /**
     * {@code Tensor.normal_(mean, std)} on a contiguous float tensor of {@code out.length} elements. From 16
     * elements on, PyTorch draws every element as a uniform float, then turns each block of 16 into 16 normals
     * by Box-Muller (the first 8 as cosines, the last 8 as sines); a ragged end is redrawn as one more block of
     * 16 over the last 16 elements. Below 16 elements it draws pairs of doubles and keeps the sine for the next
     * value.
     */
    public void normal(float[] out, double mean, double std) {
        int n = out.length;
        if (n < 16) {
            for (int i = 0; i < n; i++) out[i] = (float) (scalarNormal() * std + mean);
            return;
        }
        for (int i = 0; i < n; i++) out[i] = uniformFloat();
        for (int i = 0; i + 16 <= n; i += 16) boxMuller16(out, i, (float) mean, (float) std);
        if (n % 16 != 0) {
            for (int i = n - 16; i < n; i++) out[i] = uniformFloat();
            boxMuller16(out, n - 16, (float) mean, (float) std);
        }
    }

    /** The draws {@link #normal} would make for {@code n} elements, without keeping the values. */
    public void skipNormal(int n) {
        normal(new float[n], 0, 1);
    }

    /** {@code Tensor.uniform_(from, to)} on {@code n} float elements: one draw each; only the draws matter here. */
    public void skipUniform(long n) {
        for (long i = 0; i < n; i++) random();
    }

    /** PyTorch's normal_fill_16: data[i] and data[i + 8] from the uniforms u1 = 1 - data[i], u2 = data[i + 8]. */
    private static void boxMuller16(float[] data, int at, float mean, float std) {
        for (int j = at; j < at + 8; j++) {
            float u1 = 1 - data[j];                                         // (0, 1], for the log
            float u2 = data[j + 8];
            float radius = (float) Math.sqrt(-2 * (float) Math.log(u1));
            float theta = 2.0f * (float) Math.PI * u2;
            data[j] = radius * (float) Math.cos(theta) * std + mean;
            data[j + 8] = radius * (float) Math.sin(theta) * std + mean;
        }
    }

    /** {@code at::normal_distribution<double>}: one Box-Muller pair of 53-bit uniforms, the sine kept for next time. */
    private double scalarNormal() {
        if (!Double.isNaN(cachedNormal)) {
            double v = cachedNormal;
            cachedNormal = Double.NaN;
            return v;
        }
        double u1 = (random64() & ((1L << 53) - 1)) * 0x1.0p-53;
        double u2 = (random64() & ((1L << 53) - 1)) * 0x1.0p-53;
        double r = Math.sqrt(-2.0 * Math.log(1.0 - u2));
        double theta = 2.0 * Math.PI * u1;
        cachedNormal = r * Math.sin(theta);
        return r * Math.cos(theta);
    }

    /** The whole state (the 624 words, the position in them, the kept normal) for a checkpoint. */
    public long[] state() {
        long[] s = new long[N + 2];
        for (int i = 0; i < N; i++) s[i] = mt[i];
        s[N] = next;
        s[N + 1] = Double.doubleToRawLongBits(cachedNormal);
        return s;
    }

    /** Continues from a {@link #state()}. */
    public void setState(long[] s) {
        if (s == null || s.length != N + 2 || s[N] < 0 || s[N] > N) {
            throw new IllegalArgumentException("not a generator state: expected " + (N + 2) + " numbers"
                    + (s == null ? "" : ", got " + s.length));
        }
        for (int i = 0; i < N; i++) mt[i] = (int) s[i];
        next = (int) s[N];
        cachedNormal = Double.longBitsToDouble(s[N + 1]);
    }

    @Override
    public String toString() {
        return "TorchGenerator" + Arrays.toString(Arrays.copyOf(mt, 2)) + "@" + next;
    }
}
