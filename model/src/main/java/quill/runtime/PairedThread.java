package quill.runtime;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Work split in two halves, run at once: one half on the calling thread, the other on a helper thread that waits for
 * its next half by spinning. For phases too short for a thread pool: a sampled window's phases take 0.1-0.5 ms, and
 * waking a parked pool thread takes tens of microseconds each time. The helper spins for a millisecond after each half
 * (the next usually comes within microseconds), then parks until it is given another. It is a daemon thread, one per
 * process, started at first use and shared by whoever asks; a caller that finds it busy runs both halves itself.
 */
public final class PairedThread {
    /** How long the helper spins for its next half before it parks. */
    private static final long SPIN_NS = 1_000_000;
    private static final PairedThread SHARED = new PairedThread();

    private final AtomicBoolean taken = new AtomicBoolean();
    private Thread thread;
    /** The helper's half; given, done: how many halves were given and are finished (by either thread). */
    private volatile Runnable work;
    private volatile long given, done;
    /** Who runs the half given last: whichever thread claims it first, so a helper off its core is not waited for. */
    private final AtomicInteger claim = new AtomicInteger();
    private static final int OPEN = 0, HELPER = 1, CALLER = 2;
    private volatile boolean parked;
    private volatile Throwable failure;

    private PairedThread() {
    }

    /**
     * Runs {@code here} on this thread and {@code there} on the helper, and returns when both are done; a failure of
     * either is thrown here (this thread's first). The two must not depend on each other. If the helper has not
     * started {@code there} by the time {@code here} is done (another program, or the JIT, has its core), this thread
     * runs it too.
     */
    public static void run(Runnable here, Runnable there) {
        SHARED.runPair(here, there);
    }

    private void runPair(Runnable here, Runnable there) {
        if (!taken.compareAndSet(false, true)) {                   // in use by another thread: do both here
            here.run();
            there.run();
            return;
        }
        try {
            start();
            failure = null;
            work = there;
            claim.set(OPEN);
            long n = given + 1;
            given = n;
            if (parked) LockSupport.unpark(thread);                 // read after given is set: see loop()
            Throwable mine = null;
            try {
                here.run();
            } catch (Throwable e) {
                mine = e;
            }
            if (claim.compareAndSet(OPEN, CALLER)) {                // not started there: run it here
                try {
                    there.run();
                } catch (Throwable e) {
                    failure = e;
                }
            } else {
                for (int spins = 0; done != n; spins++) {
                    if (spins < 100_000) Thread.onSpinWait();
                    else Thread.yield();                            // the helper lost its core for a while
                }
            }
            Throwable theirs = failure;
            if (mine == null) mine = theirs;
            else if (theirs != null) mine.addSuppressed(theirs);
            if (mine instanceof RuntimeException e) throw e;
            if (mine instanceof Error e) throw e;
            if (mine != null) throw new IllegalStateException(mine);
        } finally {
            work = null;                                            // claimed by now: nothing keeps its captures alive
            taken.set(false);
        }
    }

    private synchronized void start() {
        if (thread != null) return;
        thread = new Thread(this::loop, "quill-paired");
        thread.setDaemon(true);
        thread.start();
    }

    private void loop() {
        long seen = 0;
        while (true) {
            long since = System.nanoTime();
            for (int spins = 1; given == seen; spins++) {
                Thread.onSpinWait();
                if (spins % 1024 == 0 && System.nanoTime() - since > SPIN_NS) {
                    parked = true;                                  // set before given is read again, so a caller
                    if (given == seen) LockSupport.park(this);      // that sets given either sees it and unparks,
                    parked = false;                                 // or is seen here
                    since = System.nanoTime();
                }
            }
            seen = given;
            if (claim.compareAndSet(OPEN, HELPER)) {
                try {
                    work.run();
                } catch (Throwable e) {
                    failure = e;
                }
            }
            done = seen;
        }
    }
}
