package quill.runtime;

import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.nativeblas.NativeOpsHolder;

/**
 * ND4J's thread settings for Quill, in one place (the step's memory and ND4J's profiling checks are
 * {@link StepMemory}'s).
 *
 * <p>Threads: ND4J (OpenMP), OpenBLAS and Quill's kernels ({@link Parallel}) use {@code OMP_NUM_THREADS},
 * or every core. Two threads roughly halve the matrix products on an idle 2-core machine. When other
 * processes keep the cores busy, OpenMP threads spin-wait for each other and small ops slow down a
 * hundredfold, unless {@code OMP_WAIT_POLICY=PASSIVE} is set in the environment (it must be set before
 * the JVM starts); otherwise use one thread ({@link #setThreads}).
 */
public final class Backend {
    private Backend() {
    }

    /** How many threads ND4J's ops, OpenBLAS's matrix products and Quill's own kernels may use. */
    public static void setThreads(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        Parallel.setThreads(threads);
        // In ND4J 1.0.0-M2.1 Environment.setMaxThreads does not reach OpenMP; the native call does.
        NativeOpsHolder.getInstance().getDeviceNativeOps().setOmpNumThreads(threads);
        Nd4j.getEnvironment().setMaxThreads(threads);
        Nd4j.getEnvironment().setMaxMasterThreads(threads);
        Nd4j.factory().blas().setMaxThreads(threads);
    }

    /** The thread count ND4J's ops (OpenMP) use now. */
    public static int threads() {
        return NativeOpsHolder.getInstance().getDeviceNativeOps().ompGetMaxThreads();
    }
}
