package quill.kernels;

/**
 * The loops behind {@link quill.autograd.Variants#swiglu}, {@code silu(g) * u} over rows of (gate, value), one of the
 * kernels (the {@code *Kernel} classes of this package): each comes twice, over doubles for DOUBLE arrays (gradient
 * checks, PyTorch's float64 dumps) and over floats for FLOAT arrays (training), line for line the same math; the float
 * loop stays for training's speed, as {@link LayerNormKernel}'s. {@code VariantsTest} checks both against the composed
 * SwiGLU and the double one against finite differences.
 */
public final class SwigluKernel {
    private SwigluKernel() {
    }

    /** Rows [from, to) of {@code in} (rows of 2H: the gate, then the value) into {@code y} (rows of H). */
    public static void forward(Elements in, Elements y, int hid, int from, int to) {
        int h2 = 2 * hid;
        if (in.isDouble()) {
            double[] row = new double[h2], o = new double[hid];
            for (int r = from; r < to; r++) {
                in.get(r * h2, row, h2);
                for (int j = 0; j < hid; j++) o[j] = row[j] * sigmoid(row[j]) * row[hid + j]; // silu(g) * u
                y.put(r * hid, o, hid);
            }
        } else {
            float[] row = new float[h2], o = new float[hid];
            for (int r = from; r < to; r++) {
                in.get(r * h2, row, h2);
                for (int j = 0; j < hid; j++) o[j] = row[j] * sigmoid(row[j]) * row[hid + j];
                y.put(r * hid, o, hid);
            }
        }
    }

    /** The backward over rows [from, to): d gate and d value (rows of 2H) from dy (rows of H). */
    public static void backward(Elements in, Elements dy, Elements dx, int hid, int from, int to) {
        if (in.isDouble()) backwardDouble(in, dy, dx, hid, from, to);
        else backwardFloat(in, dy, dx, hid, from, to);
    }

    /** SwiGLU's backward over rows [from, to) of doubles. */
    private static void backwardDouble(Elements in, Elements dy, Elements dx, int hid, int from, int to) {
        double[] row = new double[2 * hid], gr = new double[hid], d = new double[2 * hid];
        for (int r = from; r < to; r++) {
            in.get(r * 2 * hid, row, 2 * hid);
            dy.get(r * hid, gr, hid);
            for (int j = 0; j < hid; j++) {
                double gate = row[j], u = row[hid + j], s = sigmoid(gate);
                d[j] = gr[j] * u * s * (1 + gate * (1 - s));                    // d silu(g) / dg = s (1 + g (1 - s))
                d[hid + j] = gr[j] * gate * s;                                 // d / du = silu(g)
            }
            dx.put(r * 2 * hid, d, 2 * hid);
        }
    }

    /** As {@link #backwardDouble}, on floats. */
    private static void backwardFloat(Elements in, Elements dy, Elements dx, int hid, int from, int to) {
        float[] row = new float[2 * hid], gr = new float[hid], d = new float[2 * hid];
        for (int r = from; r < to; r++) {
            in.get(r * 2 * hid, row, 2 * hid);
            dy.get(r * hid, gr, hid);
            for (int j = 0; j < hid; j++) {
                float gate = row[j], u = row[hid + j], s = sigmoid(gate);
                d[j] = gr[j] * u * s * (1 + gate * (1 - s));
                d[hid + j] = gr[j] * gate * s;
            }
            dx.put(r * 2 * hid, d, 2 * hid);
        }
    }

    private static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    private static float sigmoid(float x) {
        return (float) (1 / (1 + Math.exp(-x)));
    }
}
