package quill.kernels;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

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
 * <p>Only for 2-d arrays stored row after row without gaps, all FLOAT or all DOUBLE; anything else goes to {@code
 * Nd4j.gemm}.
 */
public final class Blas {
    private Blas() {
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
        int ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans;
        int lda = (int) a.size(1), ldb = (int) b.size(1), ldc = n;
        if (type == DataType.FLOAT) {
            cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, (float) alpha, floats(a), lda, floats(b), ldb, (float) beta,
                    floats(c), ldc);
        } else {
            cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, doubles(a), lda, doubles(b), ldb, beta, doubles(c), ldc);
        }
        Reference.reachabilityFence(a);                   // the memory lives as long as its arrays (see Elements)
        Reference.reachabilityFence(b);
        Reference.reachabilityFence(c);
    }

    /** Whether {@code x} is a matrix of {@code type} stored row after row (a single row's stride does not matter). */
    private static boolean rowMajor(INDArray x, DataType type) {
        return x.rank() == 2 && x.dataType() == type && (type == DataType.FLOAT || type == DataType.DOUBLE)
                && (x.size(1) == 1 || x.stride(1) == 1) && (x.size(0) == 1 || x.stride(0) == x.size(1));
    }

    private static FloatPointer floats(INDArray x) {
        return new FloatPointer(x.data().pointer()).position(x.offset());
    }

    private static DoublePointer doubles(INDArray x) {
        return new DoublePointer(x.data().pointer()).position(x.offset());
    }
}
