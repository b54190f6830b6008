package quill.kernels;

/**
 * The loops behind {@link quill.optim.AdamW#step} and {@link quill.optim.AdamW#clipGradNorm}, one of the kernels (the
 * {@code *Kernel} classes of this package): each comes twice, over doubles for a model of doubles (gradient checks,
 * {@code check-reference}'s float64 run) and over floats for training's float32 model. The float loop stays: it is how
 * {@code torch.optim.AdamW} computes a float32 step (in float, which the float32 comparisons with PyTorch and the CPU
 * preset's figures rest on), and the JIT turns its short loops into SIMD code. The two are line for line the same
 * formula: {@code AdamWTest} checks the double loop against torch.optim.AdamW's update and the float loop against the
 * double one.
 */
public final class AdamWKernel {
    private AdamWKernel() {
    }

    /**
     * One AdamW update of elements [start, end) of a parameter {@code pe} with gradient {@code ge} and moments
     * {@code me}, {@code ve}: {@code decay} is {@code 1 - lr * weightDecay} (or 1), {@code stepSize}
     * {@code lr / (1 - beta1^t)}, {@code bias2Sqrt} {@code sqrt(1 - beta2^t)}.
     */
    public static void update(Elements pe, Elements ge, Elements me, Elements ve, double beta1, double beta2,
            double eps, double decay, double stepSize, double bias2Sqrt, int start, int end) {
        if (pe.isDouble()) updateDouble(pe, ge, me, ve, beta1, beta2, eps, decay, stepSize, bias2Sqrt, start, end);
        else updateFloat(pe, ge, me, ve, beta1, beta2, eps, (float) decay, (float) stepSize, (float) bias2Sqrt,
                start, end);
    }

    /** The update of elements [start, end) of one parameter of doubles. */
    private static void updateDouble(Elements pe, Elements ge, Elements me, Elements ve, double beta1, double beta2,
            double eps, double decay, double stepSize, double bias2Sqrt, int start, int end) {
        double[] p = new double[Elements.BLOCK], g = new double[Elements.BLOCK], m = new double[Elements.BLOCK],
                v = new double[Elements.BLOCK];
        for (int from = start; from < end; from += Elements.BLOCK) {
            int n = Math.min(Elements.BLOCK, end - from);
            pe.get(from, p, n);
            ge.get(from, g, n);
            me.get(from, m, n);
            ve.get(from, v, n);
            for (int i = 0; i < n; i++) m[i] = beta1 * m[i] + (1 - beta1) * g[i];          // m = b1 m + (1 - b1) g
            for (int i = 0; i < n; i++) v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];   // v = b2 v + (1 - b2) g^2
            // p -= lr / (1 - b1^t) m / denom,  denom = sqrt(v / (1 - b2^t)) + eps
            for (int i = 0; i < n; i++) {
                p[i] = p[i] * decay - stepSize * m[i] / (Math.sqrt(v[i]) / bias2Sqrt + eps);
            }
            pe.put(from, p, n);
            me.put(from, m, n);
            ve.put(from, v, n);
        }
    }

    /** As {@link #updateDouble}, in float for a parameter of floats, as torch.optim.AdamW computes it. */
    private static void updateFloat(Elements pe, Elements ge, Elements me, Elements ve, double beta1, double beta2,
            double eps, float decay, float stepSize, float bias2Sqrt, int start, int end) {
        float b1 = (float) beta1, b2 = (float) beta2, e = (float) eps;
        float c1 = (float) (1 - beta1), c2 = (float) (1 - beta2);
        float[] p = new float[Elements.BLOCK], g = new float[Elements.BLOCK], m = new float[Elements.BLOCK],
                v = new float[Elements.BLOCK];
        for (int from = start; from < end; from += Elements.BLOCK) {
            int n = Math.min(Elements.BLOCK, end - from);
            pe.get(from, p, n);
            ge.get(from, g, n);
            me.get(from, m, n);
            ve.get(from, v, n);
            for (int i = 0; i < n; i++) m[i] = b1 * m[i] + c1 * g[i];
            for (int i = 0; i < n; i++) v[i] = b2 * v[i] + c2 * g[i] * g[i];
            for (int i = 0; i < n; i++) {
                p[i] = p[i] * decay - stepSize * m[i] / ((float) Math.sqrt(v[i]) / bias2Sqrt + e);
            }
            pe.put(from, p, n);
            me.put(from, m, n);
            ve.put(from, v, n);
        }
    }

    /**
     * The sum of the squares of elements [start, end) of a gradient, in double. The float loop gives the same sum
     * bit for bit as the double loop on the widened floats, but reading floats as doubles (a conversion pass) made
     * it about a quarter slower (A/B timing, one thread, 0.8M floats: 1.88 against 1.46 ms at p10), so it stays.
     */
    public static double sumOfSquares(Elements ge, int start, int end) {
        double sum = 0;
        if (ge.isDouble()) {
            double[] g = new double[Elements.BLOCK];
            for (int from = start; from < end; from += Elements.BLOCK) {
                int n = Math.min(Elements.BLOCK, end - from);
                ge.get(from, g, n);
                for (int k = 0; k < n; k++) sum += g[k] * g[k];
            }
        } else {
            float[] g = new float[Elements.BLOCK];
            for (int from = start; from < end; from += Elements.BLOCK) {
                int n = Math.min(Elements.BLOCK, end - from);
                ge.get(from, g, n);
                for (int k = 0; k < n; k++) sum += (double) g[k] * g[k];   // summed in double
            }
        }
        return sum;
    }
}
