package quill.kernels;

/**
 * The loops behind {@link quill.autograd.Variants#qkNormRope}: QK-norm and the rotary embedding's rotation of each
 * head of q and k, on the fused {@code c_attn} output. One of the kernels (the {@code *Kernel} classes of this
 * package): each comes twice, over doubles for DOUBLE arrays (gradient checks, PyTorch's float64 dumps) and over
 * floats for FLOAT arrays (training), line for line the same math; the float loop stays for training's speed, as
 * {@link LayerNormKernel}'s. {@code VariantsTest} checks both against the composed version and the double one
 * against finite differences.
 */
public final class QkNormRopeKernel {
    private QkNormRopeKernel() {
    }

    /** Rows [from, to) of {@code in} (rows of c3 = 3C) into {@code y}, keeping each head's rstd when qkNorm. */
    public static void forward(Elements in, Elements y, double[] rstd, int nHead, int hs, int c3, int t, int pos0,
            boolean qkNorm, Rope rope, int from, int to) {
        if (in.isDouble()) forwardDouble(in, y, rstd, nHead, hs, c3, t, pos0, qkNorm, rope, from, to);
        else forwardFloat(in, y, rstd, nHead, hs, c3, t, pos0, qkNorm, rope, from, to);
    }

    /** The backward over rows [from, to): dx from dy (v's part as it came). */
    public static void backward(Elements in, Elements dy, Elements dx, double[] rstd, int nHead, int hs, int c3, int t,
            int pos0, boolean qkNorm, Rope rope, int from, int to) {
        if (in.isDouble()) backwardDouble(in, dy, dx, rstd, nHead, hs, c3, t, pos0, qkNorm, rope, from, to);
        else backwardFloat(in, dy, dx, rstd, nHead, hs, c3, t, pos0, qkNorm, rope, from, to);
    }

    /**
     * {@link quill.autograd.Variants#qkNormRope} over rows [from, to) of doubles, keeping each head's rstd (when
     * qkNorm).
     */
    private static void forwardDouble(Elements in, Elements y, double[] rstd, int nHead, int hs, int c3, int t,
            int pos0, boolean qkNorm, Rope rope, int from, int to) {
        double[] row = new double[c3];
        for (int r = from; r < to; r++) {
            in.get(r * c3, row, c3);
            int pos = pos0 + r % t;
            for (int head = 0; head < 2 * nHead; head++) {                      // q's heads, then k's
                int at = head * hs;
                if (qkNorm) {
                    double s = RmsNormKernel.rstd(row, at, hs, RmsNormKernel.EPS);
                    rstd[r * 2 * nHead + head] = s;
                    for (int j = at; j < at + hs; j++) row[j] *= s;            // x = x * rsqrt(mean(x^2) + eps)
                }
                if (rope != null) rotate(rope, row, at, pos, false);           // x = x cos + rotate_half(x) sin
            }
            y.put(r * c3, row, c3);
        }
    }

    /** As {@link #forwardDouble}, on floats. */
    private static void forwardFloat(Elements in, Elements y, double[] rstd, int nHead, int hs, int c3, int t, int pos0,
            boolean qkNorm, Rope rope, int from, int to) {
        float[] row = new float[c3];
        for (int r = from; r < to; r++) {
            in.get(r * c3, row, c3);
            int pos = pos0 + r % t;
            for (int head = 0; head < 2 * nHead; head++) {
                int at = head * hs;
                if (qkNorm) {
                    double s = RmsNormKernel.rstd(row, at, hs, RmsNormKernel.EPS);
                    rstd[r * 2 * nHead + head] = s;
                    float sf = (float) s;
                    for (int j = at; j < at + hs; j++) row[j] *= sf;
                }
                if (rope != null) rotate(rope, row, at, pos, false);
            }
            y.put(r * c3, row, c3);
        }
    }

    /** {@link quill.autograd.Variants#qkNormRope}'s backward over rows [from, to) of doubles. */
    private static void backwardDouble(Elements in, Elements dy, Elements dx, double[] rstd, int nHead, int hs, int c3,
            int t, int pos0, boolean qkNorm, Rope rope, int from, int to) {
        double[] gr = new double[c3], xr = new double[c3];
        for (int r = from; r < to; r++) {
            dy.get(r * c3, gr, c3);
            if (qkNorm) in.get(r * c3, xr, c3);
            int pos = pos0 + r % t;
            for (int head = 0; head < 2 * nHead; head++) {
                int at = head * hs;
                if (rope != null) rotate(rope, gr, at, pos, true);               // a rotation's gradient turns back
                if (qkNorm) RmsNormKernel.rmsBackward(xr, gr, at, hs, rstd[r * 2 * nHead + head]);
            }
            dx.put(r * c3, gr, c3);                                            // v: the gradient as it came
        }
    }

    /** As {@link #backwardDouble}, on floats. */
    private static void backwardFloat(Elements in, Elements dy, Elements dx, double[] rstd, int nHead, int hs, int c3,
            int t, int pos0, boolean qkNorm, Rope rope, int from, int to) {
        float[] gr = new float[c3], xr = new float[c3];
        for (int r = from; r < to; r++) {
            dy.get(r * c3, gr, c3);
            if (qkNorm) in.get(r * c3, xr, c3);
            int pos = pos0 + r % t;
            for (int head = 0; head < 2 * nHead; head++) {
                int at = head * hs;
                if (rope != null) rotate(rope, gr, at, pos, true);
                if (qkNorm) RmsNormKernel.rmsBackward(xr, gr, at, hs, rstd[r * 2 * nHead + head]);
            }
            dx.put(r * c3, gr, c3);
        }
    }

    /**
     * Turns the head at {@code v[at..at+hs)} in place to position {@code pos}:
     * {@code x' = x cos + rotate_half(x) sin}, {@code rotate_half(x) = cat(-x2, x1)}; with {@code back}, by the
     * opposite angle (the rotation's transpose: what the backward pass applies to a gradient).
     */
    public static void rotate(Rope rope, double[] v, int at, int pos, boolean back) {
        rope.checkPosition(pos);
        int half = rope.half;
        for (int i = 0; i < half; i++) {
            double c = rope.cos[pos * half + i], s = back ? -rope.sin[pos * half + i] : rope.sin[pos * half + i];
            double x1 = v[at + i], x2 = v[at + half + i];
            v[at + i] = x1 * c - x2 * s;                                        // x1' = x1 cos - x2 sin
            v[at + half + i] = x2 * c + x1 * s;                                 // x2' = x2 cos + x1 sin
        }
    }

    /** As {@link #rotate(Rope, double[], int, int, boolean)}, in float. */
    public static void rotate(Rope rope, float[] v, int at, int pos, boolean back) {
        rope.checkPosition(pos);
        int half = rope.half;
        int p = pos * half;
        float sign = back ? -1 : 1;
        for (int i = 0; i < half; i++) {
            float c = rope.cosF[p + i], s = sign * rope.sinF[p + i];
            float x1 = v[at + i], x2 = v[at + half + i];
            v[at + i] = x1 * c - x2 * s;                                        // x1' = x1 cos - x2 sin
            v[at + half + i] = x2 * c + x1 * s;                                 // x2' = x2 cos + x1 sin
        }
    }
}
