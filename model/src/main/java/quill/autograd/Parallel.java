package quill.autograd;

import org.nd4j.linalg.factory.Nd4j;

import java.util.stream.IntStream;

/**
 * Splits a kernel's loop over [0, n) into one chunk per thread (the ForkJoin common pool plus the caller),
 * as OpenMP does for ND4J's own ops. Chunks are whole rows, and each writes only its own rows, so the
 * kernels stay deterministic. The thread count follows ND4J's ({@code OMP_NUM_THREADS}), or {@link #setThreads}.
 */
public final class Parallel {
    private static volatile int threads = Math.max(1, Math.min(Nd4j.getEnvironment().maxThreads(),
            java.util.concurrent.ForkJoinPool.getCommonPoolParallelism() + 1));

    /** Work on [from, to), the chunk'th of {@link #chunks}. */
    @FunctionalInterface
    public interface Range {
        void run(int chunk, int from, int to);
    }

    private Parallel() {
    }

    public static void setThreads(int n) {
        if (n < 1) throw new IllegalArgumentException("threads must be at least 1, got " + n);
        threads = n;
    }

    public static int threads() {
        return threads;
    }

    /** How many chunks {@link #range} cuts [0, n) into: up to {@link #threads()}, each at least {@code minChunk}. */
    public static int chunks(int n, int minChunk) {
        return (int) Math.min(threads, Math.max(1, n / Math.max(1, (long) minChunk)));
    }

    /**
     * Runs {@code body} over [0, n) in {@link #chunks} chunks at once. Sums that cross chunks should be
     * kept per chunk and added in chunk order afterwards, so results do not depend on timing.
     */
    public static void range(int n, int minChunk, Range body) {
        int chunks = chunks(n, minChunk);
        if (chunks == 1) {
            body.run(0, 0, n);
            return;
        }
        IntStream.range(0, chunks).parallel()
                .forEach(c -> body.run(c, (int) ((long) n * c / chunks), (int) ((long) n * (c + 1) / chunks)));
    }
}
