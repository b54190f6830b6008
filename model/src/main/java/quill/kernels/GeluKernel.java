package quill.kernels;

/**
 * GELU's kernels, {@code x * Phi(x)} with Phi the normal CDF {@code (1 + erf(x / sqrt 2)) / 2}, and its derivative,
 * over the elements of an array: in float for FLOAT arrays (training), in double for DOUBLE arrays (gradient checks and
 * comparisons with PyTorch's float64 dumps).
 *
 * <p>In double, erf is exact to double rounding ({@link #erf}) and {@code Phi'(x) = exp(-x^2 / 2) / sqrt(2 pi)}: a 3e-7
 * error is invisible in float32 but not in a float64 comparison, where AdamW turns a gradient element near its eps
 * (1e-8) that is off by 1e-9 into a visibly different step.
 *
 * <p>In float, erf is Abramowitz and Stegun's 7.1.28, {@code erf(z) = 1 - (1 + s P(s))^-16} for s = |z|, with P(s) = a1
 * + a2 s + ... + a6 s^5; its error is at most 3e-7 (below float32 resolution) and it needs no exp. With r = 1 / (1 + s
 * P(s)), {@code 1 - r^16 = s P(s) r (1+r)(1+r^2)(1+r^4)(1+r^8)}, so {@code erf(z) = z P(s) r
 * (1+r)(1+r^2)(1+r^4)(1+r^8)}: no sign test and no cancellation near 0. Each step is its own short loop over a block so
 * that the JIT compiles it to SIMD instructions.
 *
 * <p>One of the kernels (the {@code *Kernel} classes of this package). The two versions stay: they are two formulas,
 * not one in two precisions (the series erf would cost training many times A&amp;S's polynomial, and the polynomial's
 * 3e-7 would spoil the float64 checks).
 */
public final class GeluKernel {
    private GeluKernel() {
    }

    private static final double SQRT1_2 = 1 / Math.sqrt(2);
    private static final double A1 = 0.0705230784, A2 = 0.0422820123, A3 = 0.0092705272,
            A4 = 0.0001520143, A5 = 0.0002765672, A6 = 0.0000430638;
    private static final float SQRT1_2F = (float) SQRT1_2;
    private static final float A1F = (float) A1, A2F = (float) A2, A3F = (float) A3, A4F = (float) A4,
            A5F = (float) A5, A6F = (float) A6;
    private static final int BLOCK = Elements.BLOCK;
    /** Each thread's blocks, kept between calls: generation calls GELU four times a token ({@link Scratch}). */
    private static final Scratch BLOCKS = new Scratch(6);

    /** out[i] = x[i] Phi(x[i]) for i in [start, end). */
    public static void forward(Elements x, Elements out, int start, int end) {
        if (x.isDouble()) {
            double[][] blocks = BLOCKS.doubles(BLOCK);
            double[] v = blocks[0], phi = blocks[1];
            for (int from = start; from < end; from += BLOCK) {
                int m = Math.min(BLOCK, end - from);
                x.get(from, v, m);
                cdf(v, phi, m);
                for (int i = 0; i < m; i++) phi[i] *= v[i];               // out = x * Phi(x)
                out.put(from, phi, m);
            }
        } else {
            float[][] blocks = BLOCKS.floats(BLOCK);
            float[] v = blocks[0], phi = blocks[1], s = blocks[2], p = blocks[3], r = blocks[4];
            for (int from = start; from < end; from += BLOCK) {
                int m = Math.min(BLOCK, end - from);
                x.get(from, v, m);
                cdf(v, phi, s, p, r, m);
                for (int i = 0; i < m; i++) phi[i] *= v[i];               // out = x * Phi(x)
                out.put(from, phi, m);
            }
        }
    }

    /** dx[i] = dy[i] (Phi(x[i]) + x[i] Phi'(x[i])) for i in [start, end): d out / dx of out = x Phi(x). */
    public static void backward(Elements x, Elements dy, Elements dx, int start, int end) {
        if (x.isDouble()) {
            double[][] blocks = BLOCKS.doubles(BLOCK);
            double[] v = blocks[0], phi = blocks[1], p = blocks[2], g = blocks[3];
            for (int from = start; from < end; from += BLOCK) {
                int m = Math.min(BLOCK, end - from);
                x.get(from, v, m);
                dy.get(from, g, m);
                cdf(v, phi, m);
                pdf(p, v, m);                                             // p = Phi'(x)
                for (int i = 0; i < m; i++) g[i] *= phi[i] + v[i] * p[i];
                dx.put(from, g, m);
            }
        } else {
            float[][] blocks = BLOCKS.floats(BLOCK);
            float[] v = blocks[0], phi = blocks[1], s = blocks[2], p = blocks[3], r = blocks[4], g = blocks[5];
            for (int from = start; from < end; from += BLOCK) {
                int m = Math.min(BLOCK, end - from);
                x.get(from, v, m);
                dy.get(from, g, m);
                cdf(v, phi, s, p, r, m);
                pdf(p, s, r, m);                                          // p = Phi'(x)
                for (int i = 0; i < m; i++) g[i] *= phi[i] + v[i] * p[i];
                dx.put(from, g, m);
            }
        }
    }

    /** phi[i] = Phi(x[i]) for i < n, with the exact erf. */
    private static void cdf(double[] x, double[] phi, int n) {
        for (int i = 0; i < n; i++) phi[i] = 0.5 * (1 + erf(x[i] * SQRT1_2));  // Phi = (1 + erf(x / sqrt 2)) / 2
    }

    /**
     * erf(z) to double rounding, from the series {@code erf(z) = 2 / sqrt(pi) exp(-z^2) sum_n 2^n z^(2n+1) / (2n+1)!!}
     * (Abramowitz and Stegun 7.1.6), whose terms are all of one sign: no cancellation. Beyond |z| = 6, erf is
     * +-1 to double precision (erfc(6) = 2e-17).
     */
    public static double erf(double z) {
        double a = Math.abs(z);
        if (a > 6) return Math.signum(z);
        double term = a, sum = a, z2 = 2 * a * a;
        for (int k = 1; term > 1e-17 * sum; k++) {
            term *= z2 / (2 * k + 1);  // 2^k a^(2k+1) / (2k+1)!!
            sum += term;
        }
        return Math.copySign(2 / Math.sqrt(Math.PI) * Math.exp(-a * a) * sum, z);
    }

    /** phi[i] = Phi(x[i]) for i < n with Abramowitz and Stegun's erf, leaving s = |x| / sqrt 2, p = P(s) and r. */
    private static void cdf(float[] x, float[] phi, float[] s, float[] p, float[] r, int n) {
        for (int i = 0; i < n; i++) s[i] = Math.abs(x[i]) * SQRT1_2F;
        for (int i = 0; i < n; i++) p[i] = A1F + s[i] * (A2F + s[i] * (A3F + s[i] * (A4F + s[i] * (A5F + s[i] * A6F))));
        for (int i = 0; i < n; i++) r[i] = 1 / (1 + s[i] * p[i]);
        for (int i = 0; i < n; i++) {
            float r2 = r[i] * r[i], r4 = r2 * r2, r8 = r4 * r4;
            phi[i] = 0.5f + 0.5f * x[i] * SQRT1_2F * p[i] * r[i] * (1 + r[i]) * (1 + r2) * (1 + r4) * (1 + r8);
        }
    }

    /** p[i] = Phi'(x[i]) = exp(-x^2 / 2) / sqrt(2 pi), the normal density. */
    private static void pdf(double[] p, double[] x, int n) {
        for (int i = 0; i < n; i++) p[i] = Math.exp(-0.5 * x[i] * x[i]) / Math.sqrt(2 * Math.PI);
    }

    /**
     * p[i] = Phi'(x[i]) = erf'(x / sqrt 2) / (2 sqrt 2), where erf'(z) = 16 r^17 (s P(s))' is the
     * derivative of the float formula; reads s and r as {@link #cdf} left them (and overwrites p).
     */
    private static void pdf(float[] p, float[] s, float[] r, int n) {
        for (int i = 0; i < n; i++) {
            p[i] = A1F + s[i] * (2 * A2F + s[i] * (3 * A3F + s[i] * (4 * A4F + s[i] * (5 * A5F + s[i] * 6 * A6F))));
        }
        for (int i = 0; i < n; i++) {
            float r2 = r[i] * r[i], r4 = r2 * r2, r8 = r4 * r4;
            p[i] *= 8 * SQRT1_2F * r8 * r8 * r[i];
        }
    }
}
