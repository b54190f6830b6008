package quill.autograd;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Time spent per op, forward and backward, while switched on: a forward op is charged the time since the
 * previous op was recorded on the same thread (its own ND4J calls plus the model code between), a backward
 * op the time its closure runs. Both wall time and the calling thread's CPU time are kept: on a busy machine
 * the CPU time is the steadier measure (with one ND4J thread, all the work runs on the calling thread).
 * Training's worker threads record into the same totals, so a profile of a data-parallel step is the sum
 * of every worker's ops. Off by default; costs one branch per op when off.
 */
public final class Profiler {
    /** Totals for one op name, in milliseconds. */
    public record Entry(String op, long calls, double forwardMs, double backwardMs, double forwardCpuMs,
                        double backwardCpuMs) {
    }

    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static volatile boolean on;
    /** Per thread: the wall and CPU time (ns) when its last op was recorded. */
    private static final ThreadLocal<long[]> LAST = ThreadLocal.withInitial(() -> new long[2]);
    /** Per op: calls, forward wall, backward wall, forward cpu, backward cpu (ns). Guarded by itself. */
    private static final Map<String, long[]> TOTALS = new LinkedHashMap<>();

    private Profiler() {
    }

    /** Starts (or restarts) recording, dropping what was recorded so far. */
    public static void start() {
        synchronized (TOTALS) {
            TOTALS.clear();
        }
        on = true;
        mark();
    }

    /** Stops recording and returns the totals, largest CPU time first. */
    public static List<Entry> stop() {
        on = false;
        List<Entry> entries = new ArrayList<>();
        synchronized (TOTALS) {
            TOTALS.forEach((op, t) -> entries.add(new Entry(op, t[0], t[1] / 1e6, t[2] / 1e6, t[3] / 1e6, t[4] / 1e6)));
        }
        entries.sort((a, b) -> Double.compare(b.forwardCpuMs + b.backwardCpuMs, a.forwardCpuMs + a.backwardCpuMs));
        return entries;
    }

    /** Marks the start of a forward pass on this thread, so its first op is not charged for what came before. */
    public static void mark() {
        long[] last = LAST.get();
        last[0] = System.nanoTime();
        last[1] = THREADS.getCurrentThreadCpuTime();
    }

    static void forward(String op) {
        if (!on) return;
        long wall = System.nanoTime(), cpu = THREADS.getCurrentThreadCpuTime();
        long[] last = LAST.get();
        record(op, 1, wall - last[0], 0, cpu - last[1], 0);
        last[0] = wall;
        last[1] = cpu;
    }

    static boolean on() {
        return on;
    }

    /** Runs one backward closure, charging its time to {@code op}. */
    static void backward(String op, Runnable closure) {
        long wall = System.nanoTime(), cpu = THREADS.getCurrentThreadCpuTime();
        closure.run();
        record(op, 0, 0, System.nanoTime() - wall, 0, THREADS.getCurrentThreadCpuTime() - cpu);
        mark();
    }

    private static void record(String op, long calls, long fwdWall, long bwdWall, long fwdCpu, long bwdCpu) {
        synchronized (TOTALS) {
            long[] t = TOTALS.computeIfAbsent(op, k -> new long[5]);
            t[0] += calls;
            t[1] += fwdWall;
            t[2] += bwdWall;
            t[3] += fwdCpu;
            t[4] += bwdCpu;
        }
    }
}
