package quill.kernels;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.lang.ref.Reference;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * The elements of a c-order contiguous FLOAT or DOUBLE array, read and written in place (no copy of the array), a block
 * at a time into {@code float[]}s or {@code double[]}s. The hand-written kernels of {@link quill.autograd.Nn} work on
 * those blocks with short loops, which the JIT turns into SIMD code, as llm.c loops over float arrays: in float for
 * FLOAT arrays (sums and means are accumulated in double), in double for DOUBLE arrays (the gradient checks). Only
 * valid while the array lives (an array in a workspace dies when the workspace closes).
 *
 * <p>The buffers below hold the array's address, not the array: outside workspaces ND4J frees an array's memory once
 * the garbage collector finds the array unreachable, so an Elements keeps its array reachable until each read or write
 * is done. Otherwise a kernel holding only the Elements (crossEntropy's probabilities, the contiguous copy of a
 * gradient) reads freed memory, or writes into it and corrupts the native heap.
 */
public final class Elements {
    /** Elements per block: small enough for the L1 cache, large enough to amortise each call. */
    public static final int BLOCK = 2048;

    private final Object owner; // keeps the memory behind f or d allocated (see above): an INDArray or a FloatPointer
    private final FloatBuffer f;
    private final DoubleBuffer d;
    /** The memory's start, for BLAS ({@link #memory}). */
    private final FloatPointer fp;
    private final DoublePointer dp;
    private final long offset;
    /** Conversion space for each thread (several threads may work on disjoint parts of one array). */
    private static final Scratch FLOATS = new Scratch(1);
    private final int length;

    public Elements(INDArray a) {
        if (!contiguous(a)) throw new IllegalArgumentException("Elements needs a c-order contiguous array, got strides "
                + Arrays.toString(a.stride()) + " for shape " + Arrays.toString(a.shape()));
        this.owner = a;
        this.length = (int) a.length();
        this.offset = a.offset();
        long capacity = a.data().underlyingLength();
        if (a.dataType() == DataType.FLOAT) {
            fp = new FloatPointer(a.data().pointer());
            fp.capacity(capacity);
            this.f = fp.asBuffer().position((int) offset).slice().limit(length);
            this.d = null;
            this.dp = null;
        } else if (a.dataType() == DataType.DOUBLE) {
            dp = new DoublePointer(a.data().pointer());
            dp.capacity(capacity);
            this.d = dp.asBuffer().position((int) offset).slice().limit(length);
            this.f = null;
            this.fp = null;
        } else {
            throw new IllegalArgumentException("Elements works on FLOAT and DOUBLE arrays, not " + a.dataType());
        }
    }

    private Elements(FloatPointer memory, int length) {
        this.owner = memory;
        this.length = length;
        this.offset = 0;
        this.fp = memory;
        this.f = memory.asBuffer();
        this.d = null;
        this.dp = null;
    }

    /**
     * {@code n} floats of native memory of their own, zeros, without ND4J (generation without ND4J, {@code
     * quill.model.FastGpt}), freed when the Elements is no longer reachable.
     */
    public static Elements allocate(int n) {
        if (n < 1) throw new IllegalArgumentException("Elements.allocate needs at least one element, got " + n);
        FloatPointer memory = new FloatPointer(n);
        memory.zero();
        return new Elements(memory, n);
    }

    /** The memory where element 0 of the array or buffer it wraps lives is this plus {@link #offset()}, for BLAS. */
    Pointer memory() {
        return fp != null ? fp : dp;
    }

    /** Element 0's distance from {@link #memory()}, in elements. */
    long offset() {
        return offset;
    }

    /** Copies elements [from, from + n) into {@code dst[0, n)}. */
    public void get(int from, double[] dst, int n) {
        if (d != null) {
            d.get(from, dst, 0, n);
        } else {
            float[] tmp = floats(n);
            f.get(from, tmp, 0, n);
            for (int i = 0; i < n; i++) dst[i] = tmp[i];
        }
        Reference.reachabilityFence(owner);
    }

    /** Writes {@code src[0, n)} into elements [from, from + n). */
    public void put(int from, double[] src, int n) {
        if (d != null) {
            d.put(from, src, 0, n);
        } else {
            float[] tmp = floats(n);
            for (int i = 0; i < n; i++) tmp[i] = (float) src[i];
            f.put(from, tmp, 0, n);
        }
        Reference.reachabilityFence(owner);
    }

    /** Whether the array holds doubles (gradient checks); the kernels then run their double loops. */
    public boolean isDouble() {
        return d != null;
    }

    /** Copies elements [from, from + n) of a FLOAT array into {@code dst[0, n)}. */
    public void get(int from, float[] dst, int n) {
        f.get(from, dst, 0, n);
        Reference.reachabilityFence(owner);
    }

    /** Writes {@code src[0, n)} into elements [from, from + n) of a FLOAT array. */
    public void put(int from, float[] src, int n) {
        f.put(from, src, 0, n);
        Reference.reachabilityFence(owner);
    }

    public int length() {
        return length;
    }

    private static float[] floats(int n) {
        return FLOATS.floats(Math.max(n, BLOCK))[0];
    }

    /** {@code a} itself if its elements are laid out in c order without gaps, else a c-order copy. */
    public static INDArray contiguousCopy(INDArray a) {
        return contiguous(a) ? a : a.dup('c');
    }

    /** Whether {@code a} holds FLOAT or DOUBLE elements, the two types an Elements reads. */
    public static boolean isFloatOrDouble(INDArray a) {
        return a.dataType() == DataType.FLOAT || a.dataType() == DataType.DOUBLE;
    }

    public static boolean contiguous(INDArray a) {
        long expected = 1;
        for (int i = a.rank() - 1; i >= 0; i--) {
            if (a.size(i) != 1 && a.stride(i) != expected) return false;
            expected *= a.size(i);
        }
        return true;
    }

    /** A new uninitialised c-order array in the current workspace. */
    public static INDArray empty(DataType type, long... shape) {
        return Nd4j.createUninitialized(type, shape, 'c');
    }
}
