package quill.kernels;

import quill.runtime.Parallel;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The element-by-element loops behind {@link quill.autograd.Variants#reluSquared} and {@link
 * quill.autograd.Variants#softcap}, one of the kernels (the {@code *Kernel} classes of this package), a block of {@link
 * Elements#BLOCK} elements at a time.
 *
 * <p>The soft-cap's forward has one loop, over doubles, for both precisions: its float version computed tanh in double
 * anyway, so widening each float and rounding the result back once is exactly what it computed, and tanh dwarfs the
 * conversion (A/B timing, one thread, (6, 64, 512) floats: 4.9 ms at p10 against the float loop's 9.7, no slower). ReLU
 * squared keeps a float loop beside the double one, though the double loop gives the same floats bit for bit (a product
 * of two floats is exact in double, so rounding it once is a float multiply): converting to double and back made its
 * forward and backward about a quarter slower (the same A/B timing: 7.4 against 5.6 ms at p10), and the speedrun preset
 * runs it. The soft-cap's backward keeps its float loop too: {@code 1 - (y / c)^2} in double and rounded once is not
 * what float32 training computes.
 */
public final class PointwiseKernel {
    private PointwiseKernel() {
    }

    /** y = relu(x)^2, a new array of x's shape ({@code x} c-order contiguous). */
    public static INDArray reluSquared(INDArray x) {
        return map(x, (a, y, n) -> {
            for (int i = 0; i < n; i++) y[i] = a[i] > 0 ? a[i] * a[i] : 0;    // y = relu(x)^2
        }, (a, y, n) -> {
            for (int i = 0; i < n; i++) y[i] = a[i] > 0 ? a[i] * a[i] : 0;
        });
    }

    /** dx = g * 2 relu(x). */
    public static INDArray reluSquaredBackward(INDArray x, INDArray g) {
        return zip(x, g, (a, d, dx, n) -> {
            for (int i = 0; i < n; i++) dx[i] = a[i] > 0 ? 2 * a[i] * d[i] : 0; // dx = g * 2 relu(x)
        }, (a, d, dx, n) -> {
            for (int i = 0; i < n; i++) dx[i] = a[i] > 0 ? 2 * a[i] * d[i] : 0;
        });
    }

    /**
     * a + b (with {@code add}) or a * b, elementwise, for two arrays of one shape and type: one rounding per element,
     * as in ND4J's op, so the same bits, without the op's checks and dispatch (tens of microseconds a call, more than
     * the arithmetic when generating a token).
     */
    public static INDArray addOrMul(INDArray a, INDArray b, boolean add) {
        return add ? zip(a, b, (x, y, r, n) -> {
            for (int i = 0; i < n; i++) r[i] = x[i] + y[i];
        }, (x, y, r, n) -> {
            for (int i = 0; i < n; i++) r[i] = x[i] + y[i];
        }) : zip(a, b, (x, y, r, n) -> {
            for (int i = 0; i < n; i++) r[i] = x[i] * y[i];
        }, (x, y, r, n) -> {
            for (int i = 0; i < n; i++) r[i] = x[i] * y[i];
        });
    }

    /** y = c tanh(x / c). */
    public static INDArray softcap(INDArray x, double cap) {
        return map(x, (a, y, n) -> {
            for (int i = 0; i < n; i++) y[i] = cap * Math.tanh(a[i] / cap);   // y = c tanh(x / c)
        }, null);
    }

    /** dx = g (1 - tanh^2) = g (1 - (y / c)^2), from the forward's output y. */
    public static INDArray softcapBackward(INDArray y, INDArray g, double cap) {
        float capF = (float) cap;
        return zip(y, g, (v, d, dx, n) -> {
            for (int i = 0; i < n; i++) dx[i] = d[i] * (1 - (v[i] / cap) * (v[i] / cap)); // dx = g (1 - tanh^2)
        }, (v, d, dx, n) -> {
            for (int i = 0; i < n; i++) dx[i] = d[i] * (1 - (v[i] / capF) * (v[i] / capF));
        });
    }

    private interface Map1 {
        void apply(double[] a, double[] y, int n);
    }

    private interface Map1Float {
        void apply(float[] a, float[] y, int n);
    }

    private interface Map2 {
        void apply(double[] a, double[] b, double[] y, int n);
    }

    private interface Map2Float {
        void apply(float[] a, float[] b, float[] y, int n);
    }

    /**
     * A new array of {@code a}'s shape, {@code f} applied block by block: {@code ff} on a FLOAT array when given,
     * else {@code f} on both precisions.
     */
    private static INDArray map(INDArray a, Map1 f, Map1Float ff) {
        INDArray out = Elements.empty(a.dataType(), a.shape());
        Elements in = new Elements(a), y = new Elements(out);
        Parallel.range(in.length(), 4 * Elements.BLOCK, (chunk, start, end) -> {
            if (in.isDouble() || ff == null) {
                double[] x = new double[Elements.BLOCK], r = new double[Elements.BLOCK];
                for (int i = start; i < end; i += Elements.BLOCK) {
                    int m = Math.min(Elements.BLOCK, end - i);
                    in.get(i, x, m);
                    f.apply(x, r, m);
                    y.put(i, r, m);
                }
            } else {
                float[] x = new float[Elements.BLOCK], r = new float[Elements.BLOCK];
                for (int i = start; i < end; i += Elements.BLOCK) {
                    int m = Math.min(Elements.BLOCK, end - i);
                    in.get(i, x, m);
                    ff.apply(x, r, m);
                    y.put(i, r, m);
                }
            }
        });
        return out;
    }

    /**
     * As {@link #map} over two arrays of one shape (either may be a view).
     */
    private static INDArray zip(INDArray a, INDArray b, Map2 f, Map2Float ff) {
        INDArray out = Elements.empty(a.dataType(), a.shape());
        Elements ea = new Elements(Elements.contiguousCopy(a)), eb = new Elements(Elements.contiguousCopy(b));
        Elements y = new Elements(out);
        Parallel.range(ea.length(), 4 * Elements.BLOCK, (chunk, start, end) -> {
            if (ea.isDouble()) {
                double[] x1 = new double[Elements.BLOCK], x2 = new double[Elements.BLOCK];
                double[] r = new double[Elements.BLOCK];
                for (int i = start; i < end; i += Elements.BLOCK) {
                    int m = Math.min(Elements.BLOCK, end - i);
                    ea.get(i, x1, m);
                    eb.get(i, x2, m);
                    f.apply(x1, x2, r, m);
                    y.put(i, r, m);
                }
            } else {
                float[] x1 = new float[Elements.BLOCK], x2 = new float[Elements.BLOCK], r = new float[Elements.BLOCK];
                for (int i = start; i < end; i += Elements.BLOCK) {
                    int m = Math.min(Elements.BLOCK, end - i);
                    ea.get(i, x1, m);
                    eb.get(i, x2, m);
                    ff.apply(x1, x2, r, m);
                    y.put(i, r, m);
                }
            }
        });
        return out;
    }
}
