package quill.autograd;

/**
 * The normal CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2 and its derivative, for GELU, on blocks of values.
 *
 * <p>erf is Abramowitz and Stegun's 7.1.28, {@code erf(z) = 1 - (1 + s P(s))^-16} for s = |z|, with
 * P(s) = a1 + a2 s + ... + a6 s^5; its error is at most 3e-7 (below float32 resolution) and it needs no
 * exp. With r = 1 / (1 + s P(s)), {@code 1 - r^16 = s P(s) r (1+r)(1+r^2)(1+r^4)(1+r^8)}, so
 * {@code erf(z) = z P(s) r (1+r)(1+r^2)(1+r^4)(1+r^8)}: no sign test and no cancellation near 0. Each
 * step is its own short loop so that the JIT compiles it to SIMD instructions.
 */
final class Gelu {
    private Gelu() {
    }

    private static final double SQRT1_2 = 1 / Math.sqrt(2);
    private static final double A1 = 0.0705230784, A2 = 0.0422820123, A3 = 0.0092705272,
            A4 = 0.0001520143, A5 = 0.0002765672, A6 = 0.0000430638;

    /** Work arrays for one block. */
    static final class Scratch {
        final double[] s = new double[Elements.BLOCK], p = new double[Elements.BLOCK], r = new double[Elements.BLOCK];
    }

    /** phi[i] = Phi(x[i]) for i < n. */
    static void cdf(double[] x, double[] phi, int n, Scratch w) {
        double[] s = w.s, p = w.p, r = w.r;
        for (int i = 0; i < n; i++) s[i] = Math.abs(x[i]) * SQRT1_2;                                  // s = |x| / sqrt 2
        for (int i = 0; i < n; i++) p[i] = A1 + s[i] * (A2 + s[i] * (A3 + s[i] * (A4 + s[i] * (A5 + s[i] * A6)))); // P(s)
        for (int i = 0; i < n; i++) r[i] = 1 / (1 + s[i] * p[i]);                                     // r
        for (int i = 0; i < n; i++) {
            double r2 = r[i] * r[i], r4 = r2 * r2, r8 = r4 * r4;
            phi[i] = 0.5 + 0.5 * x[i] * SQRT1_2 * p[i] * r[i] * (1 + r[i]) * (1 + r2) * (1 + r4) * (1 + r8);
        }
    }

    /**
     * dphi[i] = Phi'(x[i]) = erf'(x / sqrt 2) / (2 sqrt 2), where erf'(z) = 16 r^17 (s P(s))' is the
     * derivative of the same formula. Must follow {@link #cdf} on the same x and scratch (it reuses s and r).
     */
    static void pdf(double[] dphi, int n, Scratch w) {
        double[] s = w.s, r = w.r;
        for (int i = 0; i < n; i++) {
            dphi[i] = A1 + s[i] * (2 * A2 + s[i] * (3 * A3 + s[i] * (4 * A4 + s[i] * (5 * A5 + s[i] * 6 * A6)))); // (s P)'
        }
        for (int i = 0; i < n; i++) {
            double r2 = r[i] * r[i], r4 = r2 * r2, r8 = r4 * r4;
            dphi[i] *= 8 * SQRT1_2 * r8 * r8 * r[i];
        }
    }
}
