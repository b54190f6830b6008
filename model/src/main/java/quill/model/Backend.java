package quill.model;

import org.nd4j.linalg.api.ops.executioner.OpExecutioner;
import org.nd4j.linalg.factory.Nd4j;

/**
 * ND4J's settings for Quill, in one place. Loading this class starts ND4J with per-op profiling checks
 * off (they cost microseconds on every call); {@link Gpt} loads it.
 *
 * <p>Threads: ND4J (OpenMP) and OpenBLAS use {@code OMP_NUM_THREADS}, or every core. Two threads
 * roughly halve the matrix products on an idle 2-core machine, but when other processes keep the cores
 * busy, OpenMP threads spin-wait on each other and small ops slow down by orders of magnitude: then use
 * one ({@link #setThreads}).
 */
public final class Backend {
    static {
        Nd4j.getExecutioner().setProfilingMode(OpExecutioner.ProfilingMode.DISABLED);
    }

    private Backend() {
    }

    /** Makes sure the settings above are applied (a no-op after the first call). */
    public static void init() {
    }

    /** How many threads ND4J's ops and OpenBLAS's matrix products may use. */
    public static void setThreads(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        Nd4j.getEnvironment().setMaxThreads(threads);
        Nd4j.getEnvironment().setMaxMasterThreads(threads);
        Nd4j.factory().blas().setMaxThreads(threads);
    }

    /** The thread count ND4J's ops use now. */
    public static int threads() {
        return Nd4j.getEnvironment().maxThreads();
    }
}
