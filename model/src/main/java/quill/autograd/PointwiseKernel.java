package quill.autograd;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The element-by-element loops behind {@link Variants#reluSquared} and {@link Variants#softcap}, one of the kernels
 * (the {@code *Kernel} classes of this package), a block of {@link Elements#BLOCK} elements at a time.
 *
 * <p>ReLU squared and the soft-cap's forward have one loop, over doubles, for both precisions: on a FLOAT array
 * each element is widened to double and the result rounded back once, which gives exactly the float loop's
 * result (a product of two floats is exact in double, so rounding it once is what a float multiply does; the
 * soft-cap's float version already computed tanh in double). The soft-cap's backward keeps a float loop beside
 * the double one: {@code 1 - (y / c)^2} in double and rounded once is not what float32 training computes.
 */
final class PointwiseKernel {
    private PointwiseKernel() {
    }

    /** y = relu(x)^2, a new array of x's shape ({@code x} c-order contiguous). */
    static INDArray reluSquared(INDArray x) {
        return map(x, (a, y, n) -> {
            for (int i = 0; i < n; i++) y[i] = a[i] > 0 ? a[i] * a[i] : 0;    // y = relu(x)^2
        });
    }

    /** dx = g * 2 relu(x). */
    static INDArray reluSquaredBackward(INDArray x, INDArray g) {
        return zip(x, g, (a, d, dx, n) -> {
            for (int i = 0; i < n; i++) dx[i] = a[i] > 0 ? 2 * a[i] * d[i] : 0; // dx = g * 2 relu(x)
        }, null);
    }

    /** y = c tanh(x / c). */
    static INDArray softcap(INDArray x, double cap) {
        return map(x, (a, y, n) -> {
            for (int i = 0; i < n; i++) y[i] = cap * Math.tanh(a[i] / cap);   // y = c tanh(x / c)
        });
    }

    /** dx = g (1 - tanh^2) = g (1 - (y / c)^2), from the forward's output y. */
    static INDArray softcapBackward(INDArray y, INDArray g, double cap) {
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

    private interface Map2 {
        void apply(double[] a, double[] b, double[] y, int n);
    }

    private interface Map2Float {
        void apply(float[] a, float[] b, float[] y, int n);
    }

    /** A new array of {@code a}'s shape, {@code f} applied block by block (in double, whatever a's type). */
    private static INDArray map(INDArray a, Map1 f) {
        INDArray out = Elements.empty(a.dataType(), a.shape());
        Elements in = new Elements(a), y = new Elements(out);
        Parallel.range(in.length(), 4 * Elements.BLOCK, (chunk, start, end) -> {
            double[] x = new double[Elements.BLOCK], r = new double[Elements.BLOCK];
            for (int i = start; i < end; i += Elements.BLOCK) {
                int m = Math.min(Elements.BLOCK, end - i);
                in.get(i, x, m);
                f.apply(x, r, m);
                y.put(i, r, m);
            }
        });
        return out;
    }

    /**
     * As {@link #map} over two arrays of one shape ({@code b} may be a view): {@code ff} on FLOAT arrays when given,
     * else {@code f} on both precisions.
     */
    private static INDArray zip(INDArray a, INDArray b, Map2 f, Map2Float ff) {
        INDArray out = Elements.empty(a.dataType(), a.shape());
        Elements ea = new Elements(a), eb = new Elements(Elements.contiguousCopy(b)), y = new Elements(out);
        Parallel.range(ea.length(), 4 * Elements.BLOCK, (chunk, start, end) -> {
            if (ea.isDouble() || ff == null) {
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
