package quill.model;

import quill.autograd.Nn;
import quill.kernels.Blas;
import quill.kernels.Elements;

import java.util.Arrays;

/**
 * One block's keys and values while generating, and causal self-attention over them: the arithmetic of a {@link
 * KvCache} layer, on {@link Elements} so that {@link FastGpt} computes on memory of its own exactly what {@link KvCache}
 * computes on ND4J's arrays. {@code qkv} is always the new positions' rows of q, k and v side by side (3C each), after
 * QK-norm and rotation when the model has them.
 *
 * <p>Keys are kept transposed, {@code keys[(h * hs + d) * blockSize + pos]}, so that a query's scores are a sum of rows;
 * values as {@code values[(h * blockSize + pos) * hs + d]}, so that its output is a sum of rows. Both in double.
 */
final class LayerCache {
    private final int blockSize, nHead, hs;
    private final double[] keys, values;
    private double[] qkvRows = new double[0], yRows = new double[0];

    LayerCache(int blockSize, int nHead, int headSize) {
        this.blockSize = blockSize;
        this.nHead = nHead;
        this.hs = headSize;
        this.keys = new double[nHead * headSize * blockSize];
        this.values = new double[nHead * headSize * blockSize];
    }

    /**
     * Attention of the queries first..t-1 of a window of t positions at 0..t-1, nothing cached before it, for heads
     * [h0, h1): per head, the scores of those queries against all t keys in one product, the masked softmax, and the
     * weighted values in a second product, read straight from the rows of {@code qkv} and written into the head's
     * columns of {@code y} (t - first rows of C), BLAS on the memory itself, no views. {@code att} receives the
     * weights, (nh, t - first, t). Heads are independent: two threads may take two ranges of them. Nothing is kept:
     * see {@link #store}.
     */
    static void window(Elements qkv, int t, int first, int nHead, int hs, Elements att, Elements y, int h0, int h1) {
        int c = nHead * hs, rows = t - first, row = 3 * c;
        for (int h = h0; h < h1; h++) {
            Blas.gemm(rows, t, hs, 1, qkv, (long) first * row + h * hs, row, false,        // att = q k^T
                    qkv, c + h * hs, row, true, 0, att, (long) h * rows * t, t);
            // att = softmax(att / sqrt(hs)) over the keys up to each query, 0 after
            Nn.causalSoftmax(att, att, h * rows, (h + 1) * rows, rows, t, 1 / Math.sqrt(hs));
            Blas.gemm(rows, hs, t, 1, att, (long) h * rows * t, t, false,                  // y = att v
                    qkv, 2 * c + h * hs, row, false, 0, y, h * hs, c);
        }
    }

    /**
     * Keeps the keys and values of {@code qkv}'s t rows at positions length..length+t-1; returns qkv's elements, (t,
     * 3C) row after row, in a buffer kept between calls.
     */
    double[] store(Elements qkv, int t, int length) {
        int c = nHead * hs, n = t * 3 * c;
        if (qkvRows.length < n) qkvRows = new double[n];
        double[] rows = qkvRows;
        qkv.get(0, rows, n);
        for (int i = 0; i < t; i++) {
            int p = length + i, k = i * 3 * c + c, v = k + c;                        // row i is [q | k | v]
            for (int h = 0; h < nHead; h++) {
                for (int d = 0; d < hs; d++) keys[(h * hs + d) * blockSize + p] = rows[k + h * hs + d];
                System.arraycopy(rows, v + h * hs, values, (h * blockSize + p) * hs, hs);
            }
        }
        return rows;
    }

    /**
     * t new positions after {@code length} cached ones (tokens one at a time, until the cache is full): their keys and
     * values go into the cache first, then each query first..t-1 attends over the cache in plain loops, at these sizes
     * cheaper than the calls they would take. Writes y, t - first rows of C.
     */
    void appended(Elements qkv, int t, int first, int length, Elements y) {
        int c = nHead * hs, rows = t - first;
        double[] q = store(qkv, t, length);                                 // the queries see their own keys too
        if (yRows.length < rows * c) yRows = new double[rows * c];
        double[] out = yRows;
        double[] att = new double[length + t];
        double scale = 1 / Math.sqrt(hs);
        Arrays.fill(out, 0, rows * c, 0);
        for (int i = first; i < t; i++) {
            int seen = length + i + 1;                                                // keys 0..length+i
            for (int h = 0; h < nHead; h++) {
                scores(q, i * 3 * c + h * hs, h, seen, att);                          // att = q k^T
                Nn.softmaxRow(att, seen, scale);                                      // softmax(att / sqrt(hs))
                weightedValues(att, h, seen, out, (i - first) * c + h * hs);          // y = att v
            }
        }
        y.put(0, out, rows * c);
    }

    /** {@code att[j] = q . keys[j]} for keys 0..seen-1 of head h, four channels a pass. */
    private void scores(double[] qkv, int q, int h, int seen, double[] att) {
        int d = 0;
        Arrays.fill(att, 0, seen, 0);
        for (; d + 4 <= hs; d += 4) {
            double q0 = qkv[q + d], q1 = qkv[q + d + 1], q2 = qkv[q + d + 2], q3 = qkv[q + d + 3];
            int k0 = (h * hs + d) * blockSize, k1 = k0 + blockSize, k2 = k1 + blockSize, k3 = k2 + blockSize;
            for (int j = 0; j < seen; j++) {
                att[j] += q0 * keys[k0 + j] + q1 * keys[k1 + j] + q2 * keys[k2 + j] + q3 * keys[k3 + j];
            }
        }
        for (; d < hs; d++) {
            double qd = qkv[q + d];
            int kRow = (h * hs + d) * blockSize;
            for (int j = 0; j < seen; j++) att[j] += qd * keys[kRow + j];
        }
    }

    /** {@code y[out..out+hs) += sum_j att[j] values[j]} over keys 0..seen-1 of head h, four keys a pass. */
    private void weightedValues(double[] att, int h, int seen, double[] y, int out) {
        int j = 0;
        for (; j + 4 <= seen; j += 4) {
            double w0 = att[j], w1 = att[j + 1], w2 = att[j + 2], w3 = att[j + 3];
            int v0 = (h * blockSize + j) * hs, v1 = v0 + hs, v2 = v1 + hs, v3 = v2 + hs;
            for (int e = 0; e < hs; e++) {
                y[out + e] += w0 * values[v0 + e] + w1 * values[v1 + e] + w2 * values[v2 + e] + w3 * values[v3 + e];
            }
        }
        for (; j < seen; j++) {
            double w = att[j];
            int vRow = (h * blockSize + j) * hs;
            for (int e = 0; e < hs; e++) y[out + e] += w * values[vRow + e];
        }
    }
}
