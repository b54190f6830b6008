package quill.runtime;

import org.nd4j.linalg.api.buffer.DataType;
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

    /** The thread {@link #startInBackground} started, or null. */
    private static Thread starting;
    /** What stopped that thread, or null. */
    private static volatile Throwable startFailure;

    /**
     * Starts ND4J (loading its native libraries and setting up its backend, about half a second) on a thread of its
     * own, so that it overlaps with what a command does before its first array: parsing its options, reading a
     * checkpoint. Call {@link #awaitStart} before the first ND4J call, then {@link #setThreads}: OpenMP's thread
     * count is set per thread, and ND4J sets it on the thread that starts it.
     */
    public static synchronized void startInBackground() {
        if (starting != null) return;
        starting = new Thread(() -> {
            try {
                Nd4j.create(DataType.FLOAT, 1);
                StepMemory.outside().close();
            } catch (Throwable e) {
                startFailure = e;                                  // awaitStart throws it on the caller's thread
            }
        }, "quill-nd4j-start");
        starting.setDaemon(true);
        starting.start();
    }

    /**
     * Waits until {@link #startInBackground}'s thread, if one was started, is done, and throws what stopped it: later
     * ND4J calls would otherwise only say that ND4J's class could not be initialised, without the reason.
     */
    public static void awaitStart() {
        Thread thread;
        synchronized (Backend.class) {
            thread = starting;
        }
        if (thread == null) return;
        boolean interrupted = false;
        while (thread.isAlive()) {
            try {
                thread.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
        Throwable failure = startFailure;
        if (failure instanceof Error e) throw e;
        if (failure instanceof RuntimeException e) throw e;
        if (failure != null) throw new IllegalStateException("ND4J did not start", failure);
    }

    /** The thread count ND4J's ops (OpenMP) use now. */
    public static int threads() {
        return NativeOpsHolder.getInstance().getDeviceNativeOps().ompGetMaxThreads();
    }
}
