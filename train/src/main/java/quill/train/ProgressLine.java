package quill.train;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * The console during training. On a terminal one progress line is rewritten in place (with
 * {@code \r}) at most ten times a second; without one (a CI log, a pipe) a plain line is printed
 * every {@code logInterval} iterations. Eval results and messages always get lines of their own.
 *
 * <pre>
 * iter  1200/2000 | loss 1.9321 | 24.8 ms/iter | 30.9k tok/s | 0:20 left
 * </pre>
 */
public final class ProgressLine {
    private static final long REFRESH_NANOS = 100_000_000L;

    private final PrintWriter out;
    private final boolean terminal;
    private final int logInterval;
    private long lastDraw;
    private int drawnWidth; // characters of the progress line on screen; 0 when none is

    public ProgressLine(PrintWriter out, boolean terminal, int logInterval) {
        this.out = out;
        this.terminal = terminal;
        this.logInterval = logInterval;
    }

    /** After an optimizer step; returns whether it printed (a good moment to flush logs). */
    public boolean step(int iter, int maxIters, double loss, double msPerIter, double tokensPerSecond,
                        double secondsLeft) {
        boolean last = iter == maxIters - 1;
        if (terminal) {
            long now = System.nanoTime();
            if (!last && now - lastDraw < REFRESH_NANOS) return false;
            lastDraw = now;
            String line = format(iter, maxIters, loss, msPerIter, tokensPerSecond, secondsLeft);
            out.print("\r" + line + " ".repeat(Math.max(0, drawnWidth - line.length())));
            out.flush();
            drawnWidth = line.length();
            return true;
        }
        if (iter % logInterval != 0 && !last) return false;
        out.println(format(iter, maxIters, loss, msPerIter, tokensPerSecond, secondsLeft));
        return true;
    }

    /** A line of its own (an eval result, a message), below the progress line. */
    public void println(String message) {
        clear();
        out.println(message);
    }

    /** Ends the progress line so that what follows starts on a fresh line. */
    public void clear() {
        if (drawnWidth > 0) {
            out.print("\r" + " ".repeat(drawnWidth) + "\r");
            out.flush();
            drawnWidth = 0;
        }
    }

    static String format(int iter, int maxIters, double loss, double msPerIter, double tokensPerSecond,
                         double secondsLeft) {
        int width = String.valueOf(maxIters).length();
        return String.format(Locale.ROOT, "iter %" + width + "d/%d | loss %.4f | %.1f ms/iter | %s tok/s | %s left",
                iter, maxIters, loss, msPerIter, compact(tokensPerSecond), duration(secondsLeft));
    }

    /** 30912 as "30.9k". */
    static String compact(double x) {
        if (x >= 1e6) return String.format(Locale.ROOT, "%.2fM", x / 1e6);
        if (x >= 1e3) return String.format(Locale.ROOT, "%.1fk", x / 1e3);
        return String.format(Locale.ROOT, "%.0f", x);
    }

    /** Seconds as m:ss or h:mm:ss. */
    public static String duration(double seconds) {
        long s = Math.max(0, Math.round(seconds));
        if (s >= 3600) return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
        return String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }
}
