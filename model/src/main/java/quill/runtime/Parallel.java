package quill.runtime;

import org.nd4j.linalg.factory.Nd4j;

import java.util.function.DoubleSupplier;
import java.util.stream.IntStream;

/**
 * Splits a kernel's loop over [0, n) into one chunk per thread (the ForkJoin common pool plus the caller),
 * as OpenMP does for ND4J's own ops. Chunks are whole rows, and each writes only its own rows, so the
 * kernels stay deterministic. The thread count follows ND4J's ({@code OMP_NUM_THREADS}), or {@link #setThreads}.
 */
public final class Parallel {
    private static volatile int threads = Math.max(1, Math.min(Nd4j.getEnvironment().maxThreads(),
            java.util.concurrent.ForkJoinPool.getCommonPoolParallelism() + 1));

    /** Threads for the kernels this thread starts inside {@link #withThreads}; null outside. */
    private static final ThreadLocal<Integer> SCOPED = new ThreadLocal<>();

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

    /** The thread count kernels started on this thread use: {@link #withThreads}'s, else {@link #setThreads}'s. */
    public static int threads() {
        Integer scoped = SCOPED.get();
        return scoped != null ? scoped : threads;
    }

    /**
     * Runs {@code work} with up to {@code n} threads for the kernels it starts on this thread. For a phase in
     * which the other threads that usually share the cores are idle: DataParallel's workers, while the
     * optimizer steps.
     */
    public static void withThreads(int n, Runnable work) {
        if (n < 1) throw new IllegalArgumentException("threads must be at least 1, got " + n);
        Integer before = SCOPED.get();
        SCOPED.set(n);
        try {
            work.run();
        } finally {
            if (before == null) SCOPED.remove();
            else SCOPED.set(before);
        }
    }

    /** As {@link #withThreads(int, Runnable)}, for work that returns a number. */
    public static double withThreads(int n, DoubleSupplier work) {
        double[] result = new double[1];
        withThreads(n, () -> {
            result[0] = work.getAsDouble();
        });
        return result[0];
    }

    /** How many chunks {@link #range} cuts [0, n) into: up to {@link #threads()}, each at least {@code minChunk}. */
    public static int chunks(int n, int minChunk) {
        return (int) Math.min(threads(), Math.max(1, n / Math.max(1, (long) minChunk)));
    }

    /**
     * Runs {@code body} over [0, n) in {@link #chunks} chunks at once. Sums that cross chunks should be
     * kept per chunk and added in chunk order afterwards, so results do not depend on timing.
     */
    /** Work on elements [from, to) of array {@code item}, in the chunk'th of {@link #rangeOver}'s chunks. */
    @FunctionalInterface
    public interface Slices {
        void run(int chunk, int item, int from, int to);
    }

    /**
     * As {@link #range}, over several arrays seen end to end (a model's parameters): the chunks are of about
     * equal size whatever the arrays' sizes, and each visits, in order, the parts of the arrays it covers.
     */
    public static void rangeOver(long[] lengths, int minChunk, Slices body) {
        long[] offset = new long[lengths.length + 1];
        for (int i = 0; i < lengths.length; i++) offset[i + 1] = offset[i] + lengths[i];
        if (offset[lengths.length] > Integer.MAX_VALUE) throw new IllegalArgumentException("more than 2^31 elements");
        range((int) offset[lengths.length], minChunk, (chunk, from, to) -> {
            for (int i = 0; i < lengths.length; i++) {
                long start = Math.max(from, offset[i]), end = Math.min(to, offset[i + 1]);
                if (start < end) body.run(chunk, i, (int) (start - offset[i]), (int) (end - offset[i]));
            }
        });
    }

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
