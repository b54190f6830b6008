package quill.kernels;

/**
 * The loops behind {@link quill.autograd.Nn#layerNorm}, one of the kernels (the {@code *Kernel} classes of this
 * package): each comes twice, over doubles for DOUBLE arrays (gradient checks, PyTorch's float64 dumps) and over floats
 * for FLOAT arrays (training), line for line the same math. The float loop stays because it is what training's speed
 * rests on: no conversion to double and back, and short loops the JIT turns into SIMD code; the sums over a row (and
 * over rows) are still kept in double. {@code FusedOpsTest} checks both against {@link
 * quill.autograd.Composed#layerNorm} and the double one against finite differences.
 */
public final class LayerNormKernel {
    private LayerNormKernel() {
    }

    /**
     * Each thread's three rows, kept between calls: generation normalises a window's rows nine times a token (the CPU
     * preset's model; {@link Scratch}).
     */
    private static final Scratch ROWS = new Scratch(3);

    /** Layer norm of rows [from, to) of {@code in} (rows of c) into {@code y}, keeping each row's mean and rstd. */
    public static void forward(Elements in, Elements we, Elements be, Elements y, double[] mean, double[] rstd, int c,
            double eps, int from, int to) {
        if (in.isDouble()) forwardDouble(in, we, be, y, mean, rstd, c, eps, from, to);
        else forwardFloat(in, we, be, y, mean, rstd, c, eps, from, to);
    }

    /** Layer norm's backward over rows [from, to): writes dx (when not null) and adds the rows' shares of dw and db. */
    public static void backward(Elements in, Elements we, Elements dy, Elements dx, double[] mean, double[] rstd,
            double[] dw, double[] db, int c, int from, int to) {
        if (in.isDouble()) backwardDouble(in, we, dy, dx, mean, rstd, dw, db, c, from, to);
        else backwardFloat(in, we, dy, dx, mean, rstd, dw, db, c, from, to);
    }

    /** Layer norm of rows [from, to) of doubles, keeping each row's mean and rstd for the backward. */
    private static void forwardDouble(Elements in, Elements we, Elements be, Elements y, double[] mean, double[] rstd,
            int c, double eps, int from, int to) {
        double[][] rows = ROWS.doubles(c);
        double[] row = rows[0], w = rows[1], b = rows[2];
        we.get(0, w, c);
        if (be != null) be.get(0, b, c);
        else java.util.Arrays.fill(b, 0, c, 0);
        for (int r = from; r < to; r++) {
            in.get(r * c, row, c);
            double m = 0, v = 0;
            for (int j = 0; j < c; j++) m += row[j];
            m /= c;                                                       // mean = sum x / C
            for (int j = 0; j < c; j++) v += (row[j] - m) * (row[j] - m);
            double s = 1 / Math.sqrt(v / c + eps);                        // rstd = 1 / sqrt(var + eps)
            for (int j = 0; j < c; j++) row[j] = (row[j] - m) * s * w[j] + b[j]; // y = (x - mean) * rstd * w + b
            y.put(r * c, row, c);
            mean[r] = m;
            rstd[r] = s;
        }
    }

    /** As {@link #forwardDouble}, on floats; the mean and variance are summed in double. */
    private static void forwardFloat(Elements in, Elements we, Elements be, Elements y, double[] mean, double[] rstd,
            int c, double eps, int from, int to) {
        float[][] rows = ROWS.floats(c);
        float[] row = rows[0], w = rows[1], b = rows[2];
        we.get(0, w, c);
        if (be != null) be.get(0, b, c);
        else java.util.Arrays.fill(b, 0, c, 0);
        for (int r = from; r < to; r++) {
            in.get(r * c, row, c);
            double m = 0, v = 0;
            for (int j = 0; j < c; j++) m += row[j];
            m /= c;
            for (int j = 0; j < c; j++) v += (row[j] - m) * (row[j] - m);
            double s = 1 / Math.sqrt(v / c + eps);
            float mf = (float) m, sf = (float) s;
            for (int j = 0; j < c; j++) row[j] = (row[j] - mf) * sf * w[j] + b[j];
            y.put(r * c, row, c);
            mean[r] = m;
            rstd[r] = s;
        }
    }

    /**
     * Layer norm backward over rows [from, to) of doubles: writes dx (when not null) and adds the rows'
     * shares of dw and db.
     */
    private static void backwardDouble(Elements in, Elements we, Elements dy, Elements dx, double[] mean, double[] rstd,
            double[] dw, double[] db, int c, int from, int to) {
        double[][] rows = ROWS.doubles(c);
        double[] xhat = rows[0], gRow = rows[1], w = rows[2];
        we.get(0, w, c);
        for (int r = from; r < to; r++) {
            in.get(r * c, xhat, c);
            dy.get(r * c, gRow, c);
            double sumDxhat = 0, sumDxhatXhat = 0;
            for (int j = 0; j < c; j++) {
                xhat[j] = (xhat[j] - mean[r]) * rstd[r];                  // xhat = (x - mean) * rstd
                dw[j] += gRow[j] * xhat[j];                               // y = xhat * w + b:  dw = sum_rows g xhat
                db[j] += gRow[j];                                         //                    db = sum_rows g
                double dxhat = gRow[j] * w[j];                            //                    dxhat = g w
                sumDxhat += dxhat;
                sumDxhatXhat += dxhat * xhat[j];
            }
            if (dx == null) continue;
            // xhat = (x - mean) * rstd:  dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
            double meanDxhat = sumDxhat / c, meanDxhatXhat = sumDxhatXhat / c;
            for (int j = 0; j < c; j++) gRow[j] = rstd[r] * (gRow[j] * w[j] - meanDxhat - xhat[j] * meanDxhatXhat);
            dx.put(r * c, gRow, c);
        }
    }

    /** As {@link #backwardDouble}, on floats; the sums over a row and over rows are kept in double. */
    private static void backwardFloat(Elements in, Elements we, Elements dy, Elements dx, double[] mean, double[] rstd,
            double[] dw, double[] db, int c, int from, int to) {
        float[][] rows = ROWS.floats(c);
        float[] xhat = rows[0], gRow = rows[1], w = rows[2];
        we.get(0, w, c);
        for (int r = from; r < to; r++) {
            in.get(r * c, xhat, c);
            dy.get(r * c, gRow, c);
            float m = (float) mean[r], s = (float) rstd[r];
            double sumDxhat = 0, sumDxhatXhat = 0;
            for (int j = 0; j < c; j++) {
                xhat[j] = (xhat[j] - m) * s;
                dw[j] += gRow[j] * xhat[j];
                db[j] += gRow[j];
                float dxhat = gRow[j] * w[j];
                sumDxhat += dxhat;
                sumDxhatXhat += dxhat * xhat[j];
            }
            if (dx == null) continue;
            float meanDxhat = (float) (sumDxhat / c), meanDxhatXhat = (float) (sumDxhatXhat / c);
            for (int j = 0; j < c; j++) gRow[j] = s * (gRow[j] * w[j] - meanDxhat - xhat[j] * meanDxhatXhat);
            dx.put(r * c, gRow, c);
        }
    }
}
