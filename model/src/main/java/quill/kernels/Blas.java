package quill.kernels;

import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.bytedeco.openblas.global.openblas_nolapack;

import java.lang.ref.Reference;
import java.util.Arrays;

import static org.bytedeco.openblas.global.openblas_nolapack.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_dgemm;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_sgemm;

/**
 * {@code C = alpha op(A) op(B) + beta C} handed straight to OpenBLAS's {@code cblas_sgemm} / {@code cblas_dgemm}, the
 * routine {@code Nd4j.gemm} itself ends in. On the way {@code Nd4j.gemm} checks and wraps its arguments, about 25
 * microseconds a call on this project's machines: more than the whole product for one position of a Linear (2-4
 * microseconds for 128 x 384), and generating a token takes 17 of them. For the products of a whole batch the two give
 * the same bits (ND4J calls the same routine); for a few rows ND4J takes a path of its own, whose rounding differs in
 * the last bits of float32.
 *
 * <p>The matrix form takes 2-d arrays stored row after row without gaps, all FLOAT or all DOUBLE, and hands anything
 * else to {@code Nd4j.gemm}; the sub-matrix form takes parts of c-order FLOAT or DOUBLE arrays of any rank and refuses
 * anything else, and comes again on {@link Elements}, for memory ND4J does not own.
 */
public final class Blas {
    private Blas() {
    }

    /**
     * OpenBLAS's threads for each call, set without ND4J ({@code quill.runtime.Backend#setThreads} sets them with
     * ND4J's): 1 when the callers share the cores themselves.
     */
    public static void setThreads(int n) {
        if (n < 1) throw new IllegalArgumentException("threads must be at least 1, got " + n);
        openblas_nolapack.blas_set_num_threads(n);
    }

    /** {@code c = alpha op(a) op(b) + beta c}, op transposing when asked: (M, K) x (K, N) into (M, N). */
    public static void gemm(INDArray a, INDArray b, INDArray c, boolean transA, boolean transB, double alpha,
            double beta) {
        DataType type = c.dataType();
        if (!(rowMajor(a, type) && rowMajor(b, type) && rowMajor(c, type))) {
            Nd4j.gemm(a, b, c, transA, transB, alpha, beta);
            return;
        }
        int m = (int) c.size(0), n = (int) c.size(1), k = (int) (transA ? a.size(0) : a.size(1));
        long aRows = transA ? a.size(1) : a.size(0), bRows = transB ? b.size(1) : b.size(0);
        long bCols = transB ? b.size(0) : b.size(1);
        if (aRows != m || bRows != k || bCols != n) {
            throw new IllegalArgumentException("gemm: shapes do not fit: " + Arrays.toString(a.shape()) + " x "
                    + Arrays.toString(b.shape()) + " into " + Arrays.toString(c.shape()));
        }
        gemm(m, n, k, alpha, a, 0, (int) a.size(1), transA, b, 0, (int) b.size(1), transB, beta, c, 0, n);
    }

    /**
     * The same on parts of arrays stored in c order without gaps, with no view made: op(A) is (M, K), op(B) (K, N)
     * and C (M, N), each given by the element where it starts (counted from the array's first) and the distance
     * between its rows. One head's queries in a (T, 3C) array of q, k and v side by side, for example, start at
     * {@code h * hs} with rows {@code 3C} apart. Making those views costs ND4J more than a small product itself.
     */
    public static void gemm(int m, int n, int k, double alpha, INDArray a, long aAt, int lda, boolean transA,
            INDArray b, long bAt, int ldb, boolean transB, double beta, INDArray c, long cAt, int ldc) {
        DataType type = c.dataType();
        within(a, type, aAt, lda, transA ? k : m, transA ? m : k, "a");
        within(b, type, bAt, ldb, transB ? n : k, transB ? k : n, "b");
        within(c, type, cAt, ldc, m, n, "c");
        Pointer pa = a.data().pointer(), pb = b.data().pointer(), pc = c.data().pointer();
        call(type == DataType.DOUBLE, m, n, k, alpha, pa, a.offset() + aAt, lda, transA, pb, b.offset() + bAt, ldb,
                transB, beta, pc, c.offset() + cAt, ldc);
        Reference.reachabilityFence(a);                   // the memory lives as long as its arrays (see Elements)
        Reference.reachabilityFence(b);
        Reference.reachabilityFence(c);
    }

    /**
     * The sub-matrix form on {@link Elements}, for memory ND4J does not own (generation without ND4J): the same
     * OpenBLAS call, so the same bits as on arrays. All three FLOAT or all three DOUBLE.
     */
    public static void gemm(int m, int n, int k, double alpha, Elements a, long aAt, int lda, boolean transA,
            Elements b, long bAt, int ldb, boolean transB, double beta, Elements c, long cAt, int ldc) {
        boolean isDouble = c.isDouble();
        within(a, isDouble, aAt, lda, transA ? k : m, transA ? m : k, "a");
        within(b, isDouble, bAt, ldb, transB ? n : k, transB ? k : n, "b");
        within(c, isDouble, cAt, ldc, m, n, "c");
        call(isDouble, m, n, k, alpha, a.memory(), a.offset() + aAt, lda, transA, b.memory(), b.offset() + bAt, ldb,
                transB, beta, c.memory(), c.offset() + cAt, ldc);
        Reference.reachabilityFence(a);
        Reference.reachabilityFence(b);
        Reference.reachabilityFence(c);
    }

    private static void within(Elements x, boolean isDouble, long at, int ld, int rows, int cols, String name) {
        if (x.isDouble() != isDouble) {
            throw new IllegalArgumentException("gemm: " + name + " must hold " + (isDouble ? "doubles" : "floats"));
        }
        inside(at, ld, rows, cols, x.length(), name, "its " + x.length() + " elements");
    }

    /**
     * Checks that {@code rows} rows of {@code cols} elements, {@code ld} apart from element {@code at} on, lie inside
     * {@code x}, a c-order array without gaps of {@code type}: OpenBLAS would read or write past it without a word.
     */
    private static void within(INDArray x, DataType type, long at, int ld, int rows, int cols, String name) {
        if (x.dataType() != type || !Elements.isFloatOrDouble(x) || !Elements.contiguous(x)) {
            throw new IllegalArgumentException("gemm: " + name + " must be a c-order " + type + " array without gaps, "
                    + "got " + x.dataType() + " " + Arrays.toString(x.shape()));
        }
        inside(at, ld, rows, cols, x.length(), name, Arrays.toString(x.shape()));
    }

    private static void inside(long at, int ld, int rows, int cols, long length, String name, String what) {
        if (rows < 0 || cols < 0 || at < 0 || ld < Math.max(1, cols)
                || (rows > 0 && at + (long) (rows - 1) * ld + cols > length)) {
            throw new IllegalArgumentException("gemm: " + rows + " rows of " + cols + " elements, " + ld
                    + " apart from element " + at + ", do not fit in " + name + " " + what);
        }
    }

    /** Whether {@code x} is a matrix of {@code type} stored row after row (a single row's stride does not matter). */
    private static boolean rowMajor(INDArray x, DataType type) {
        return x.rank() == 2 && x.dataType() == type && (type == DataType.FLOAT || type == DataType.DOUBLE)
                && (x.size(1) == 1 || x.stride(1) == 1) && (x.size(0) == 1 || x.stride(0) == x.size(1));
    }

    /** The OpenBLAS call both sub-matrix forms end in: each operand is the memory at its start, plus an element. */
    private static void call(boolean isDouble, int m, int n, int k, double alpha, Pointer a, long aAt, int lda,
            boolean transA, Pointer b, long bAt, int ldb, boolean transB, double beta, Pointer c, long cAt, int ldc) {
        int ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans;
        if (!isDouble) {
            cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, (float) alpha, NativeView.floats(a, aAt), lda,
                    NativeView.floats(b, bAt), ldb, (float) beta, NativeView.floats(c, cAt), ldc);
        } else {
            cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, NativeView.doubles(a, aAt), lda,
                    NativeView.doubles(b, bAt), ldb, beta, NativeView.doubles(c, cAt), ldc);
        }
    }
}
