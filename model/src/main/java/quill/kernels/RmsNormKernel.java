package quill.kernels;

/**
 * The loops behind {@link quill.autograd.Variants#rmsNorm} (and the RMS that {@link QkNormRopeKernel} divides q and k
 * by), one of the kernels (the {@code *Kernel} classes of this package): each comes twice, over doubles for DOUBLE
 * arrays (gradient checks, PyTorch's float64 dumps) and over floats for FLOAT arrays (training), line for line the same
 * math, as {@link LayerNormKernel}'s: the float loop stays for training's speed (no conversion to double and back, SIMD
 * loops); sums over a row are still kept in double. {@code VariantsTest} checks both against the composed RMSNorm and
 * the double one against finite differences.
 */
public final class RmsNormKernel {
    /** The epsilon under the square root, 1e-5 as in the reference (and LLaMA); QK-norm's fixed one too. */
    public static final double EPS = 1e-5;

    private RmsNormKernel() {
    }

    /** RMSNorm of rows [from, to) of {@code in} (rows of c) into {@code y}, keeping each row's rstd. */
    public static void forward(Elements in, Elements we, Elements y, double[] rstd, int c, double eps, int from,
            int to) {
        if (in.isDouble()) forwardDouble(in, we, y, rstd, c, eps, from, to);
        else forwardFloat(in, we, y, rstd, c, eps, from, to);
    }

    /** RMSNorm's backward over rows [from, to): writes dx and adds the rows' share of dw. */
    public static void backward(Elements in, Elements we, Elements dy, Elements dx, double[] rstd, double[] dw, int c,
            int from, int to) {
        if (in.isDouble()) backwardDouble(in, we, dy, dx, rstd, dw, c, from, to);
        else backwardFloat(in, we, dy, dx, rstd, dw, c, from, to);
    }

    /** RMSNorm of rows [from, to) of doubles, keeping each row's rstd for the backward. */
    private static void forwardDouble(Elements in, Elements we, Elements y, double[] rstd, int c, double eps, int from,
            int to) {
        double[] row = new double[c], w = new double[c];
        we.get(0, w, c);
        for (int r = from; r < to; r++) {
            in.get(r * c, row, c);
            rstd[r] = rstd(row, 0, c, eps);
            for (int j = 0; j < c; j++) row[j] *= rstd[r] * w[j];             // y = x * rstd * w
            y.put(r * c, row, c);
        }
    }

    /** As {@link #forwardDouble}, on floats; the mean square is summed in double. */
    private static void forwardFloat(Elements in, Elements we, Elements y, double[] rstd, int c, double eps, int from,
            int to) {
        float[] row = new float[c], w = new float[c];
        we.get(0, w, c);
        for (int r = from; r < to; r++) {
            in.get(r * c, row, c);
            rstd[r] = rstd(row, 0, c, eps);
            float s = (float) rstd[r];
            for (int j = 0; j < c; j++) row[j] *= s * w[j];                   // y = x * rstd * w
            y.put(r * c, row, c);
        }
    }

    /** RMSNorm's backward over rows [from, to) of doubles: writes dx and adds the rows' share of dw. */
    private static void backwardDouble(Elements in, Elements we, Elements dy, Elements dx, double[] rstd, double[] dw,
            int c, int from, int to) {
        double[] xr = new double[c], gr = new double[c], w = new double[c];
        we.get(0, w, c);
        for (int r = from; r < to; r++) {
            in.get(r * c, xr, c);
            dy.get(r * c, gr, c);
            for (int j = 0; j < c; j++) {
                dw[j] += gr[j] * xr[j] * rstd[r];                               // y = xhat * w:  dw += g * xhat
                gr[j] *= w[j];                                                 // dxhat = g * w
            }
            rmsBackward(xr, gr, 0, c, rstd[r]);
            dx.put(r * c, gr, c);
        }
    }

    /** As {@link #backwardDouble}, on floats; dw and the row's dot product are kept in double. */
    private static void backwardFloat(Elements in, Elements we, Elements dy, Elements dx, double[] rstd, double[] dw,
            int c, int from, int to) {
        float[] xr = new float[c], gr = new float[c], w = new float[c];
        we.get(0, w, c);
        for (int r = from; r < to; r++) {
            in.get(r * c, xr, c);
            dy.get(r * c, gr, c);
            float s = (float) rstd[r];
            for (int j = 0; j < c; j++) {
                dw[j] += gr[j] * xr[j] * s;                                     // y = xhat * w:  dw += g * xhat
                gr[j] *= w[j];                                                 // dxhat = g * w
            }
            rmsBackward(xr, gr, 0, c, rstd[r]);
            dx.put(r * c, gr, c);
        }
    }

    /** {@code 1 / sqrt(mean(v[from..from+len)^2) + eps)}. */
    public static double rstd(double[] v, int from, int len, double eps) {
        double ss = 0;
        for (int j = from; j < from + len; j++) ss += v[j] * v[j];
        return 1 / Math.sqrt(ss / len + eps);
    }

    /** As {@link #rstd(double[], int, int, double)}, of floats, summed in double. */
    public static double rstd(float[] v, int from, int len, double eps) {
        double ss = 0;
        for (int j = from; j < from + len; j++) ss += v[j] * v[j];
        return 1 / Math.sqrt(ss / len + eps);
    }

    /**
     * In place, {@code d[from..from+len)} from d xhat to d x, where {@code xhat = x * rstd}:
     * {@code dx = rstd * (dxhat - xhat * mean(dxhat * xhat))}.
     */
    public static void rmsBackward(double[] x, double[] d, int from, int len, double rstd) {
        double dot = 0;
        for (int j = from; j < from + len; j++) dot += d[j] * x[j] * rstd;
        dot /= len;
        for (int j = from; j < from + len; j++) d[j] = rstd * (d[j] - x[j] * rstd * dot);
    }

    /** As {@link #rmsBackward(double[], double[], int, int, double)}, on floats; the dot product in double. */
    public static void rmsBackward(float[] x, float[] d, int from, int len, double rstd) {
        double dot = 0;
        for (int j = from; j < from + len; j++) dot += d[j] * x[j];
        float s = (float) rstd, k = (float) (rstd * rstd * dot / len);
        for (int j = from; j < from + len; j++) d[j] = s * (d[j] - x[j] * k);
    }
}
