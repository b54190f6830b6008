package quill.autograd;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Time spent per op, forward and backward, while switched on: a forward op is charged the time since the
 * previous op was recorded (its own ND4J calls plus the model code between), a backward op the time its
 * closure runs. Both wall time and the calling thread's CPU time are kept: on a busy machine the CPU time
 * is the steadier measure (with one ND4J thread, all the work runs on the calling thread). Off by
 * default; costs one branch per op when off.
 */
public final class Profiler {
    /** Totals for one op name, in milliseconds. */
    public record Entry(String op, long calls, double forwardMs, double backwardMs, double forwardCpuMs, double backwardCpuMs) {
    }

    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static boolean on;
    private static long lastWall;
    private static long lastCpu;
    /** Per op: calls, forward wall, backward wall, forward cpu, backward cpu (ns). */
    private static final Map<String, long[]> TOTALS = new LinkedHashMap<>();

    private Profiler() {
    }

    /** Starts (or restarts) recording, dropping what was recorded so far. */
    public static void start() {
        TOTALS.clear();
        on = true;
        mark();
    }

    /** Stops recording and returns the totals, largest CPU time first. */
    public static List<Entry> stop() {
        on = false;
        List<Entry> entries = new ArrayList<>();
        TOTALS.forEach((op, t) -> entries.add(new Entry(op, t[0], t[1] / 1e6, t[2] / 1e6, t[3] / 1e6, t[4] / 1e6)));
        entries.sort((a, b) -> Double.compare(b.forwardCpuMs + b.backwardCpuMs, a.forwardCpuMs + a.backwardCpuMs));
        return entries;
    }

    /** Marks the start of a forward pass, so the first op is not charged for what came before. */
    public static void mark() {
        lastWall = System.nanoTime();
        lastCpu = THREADS.getCurrentThreadCpuTime();
    }

    static void forward(String op) {
        if (!on) return;
        long wall = System.nanoTime(), cpu = THREADS.getCurrentThreadCpuTime();
        long[] t = TOTALS.computeIfAbsent(op, k -> new long[5]);
        t[0]++;
        t[1] += wall - lastWall;
        t[3] += cpu - lastCpu;
        lastWall = wall;
        lastCpu = cpu;
    }

    static boolean on() {
        return on;
    }

    /** Runs one backward closure, charging its time to {@code op}. */
    static void backward(String op, Runnable closure) {
        long wall = System.nanoTime(), cpu = THREADS.getCurrentThreadCpuTime();
        closure.run();
        long[] t = TOTALS.computeIfAbsent(op, k -> new long[5]);
        t[2] += System.nanoTime() - wall;
        t[4] += THREADS.getCurrentThreadCpuTime() - cpu;
        mark();
    }
}
