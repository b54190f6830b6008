package quill.runtime;

import org.junit.jupiter.api.Test;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PairedThreadTest {
    /** Busy for about {@code micros} microseconds, long enough for a spinning helper to claim its half. */
    private static void busy(long micros) {
        long end = System.nanoTime() + micros * 1000;
        while (System.nanoTime() < end) Thread.onSpinWait();
    }

    @Test
    void bothHalvesRunAndAreDoneOnReturnTheHelpersOnTheHelper() throws InterruptedException {
        Thread caller = Thread.currentThread();
        ConcurrentHashMap<Thread, Boolean> ranThere = new ConcurrentHashMap<>();
        int[] sums = new int[2];
        for (int round = 0; round < 2000; round++) {
            int r = round;
            PairedThread.run(() -> {
                assertSame(caller, Thread.currentThread());
                busy(20);
                sums[0] += r;
            }, () -> {
                ranThere.put(Thread.currentThread(), true);
                sums[1] += r;
            });
            assertEquals(sums[0], sums[1], "round " + round);           // the other half is done on return
            if (round == 1000) Thread.sleep(5);                         // long enough for the helper to park
        }
        // the helper takes its half unless it is off its core when this thread is done with its own
        assertTrue(ranThere.keySet().stream().anyMatch(t -> t != caller), ranThere.toString());
    }

    @Test
    void aPairInUseByAnotherCallerIsNotWaitedFor() {
        CountDownLatch release = new CountDownLatch(1);
        Thread caller = Thread.currentThread();
        Thread[] ran = new Thread[1];
        // the helper is stuck in a half of another caller's: this caller runs its own second half itself
        Thread other = new Thread(() -> PairedThread.run(() -> { }, () -> awaitQuietly(release)));
        other.start();
        busy(50_000);
        PairedThread.run(() -> { }, () -> ran[0] = Thread.currentThread());
        release.countDown();
        assertSame(caller, ran[0]);
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void aFailureOfEitherHalfIsThrownToTheCaller() {
        IllegalStateException theirs = assertThrows(IllegalStateException.class, () -> PairedThread.run(() -> { },
                () -> {
                    throw new IllegalStateException("helper");
                }));
        assertEquals("helper", theirs.getMessage());
        AssertionError mine = assertThrows(AssertionError.class, () -> PairedThread.run(() -> {
            throw new AssertionError("caller");
        }, () -> { }));
        assertEquals("caller", mine.getMessage());
        int[] after = new int[1];
        PairedThread.run(() -> { }, () -> after[0] = 1);                // and it still works afterwards
        assertEquals(1, after[0]);
    }

    @Test
    void twoCallersAtOnceEachGetBothHalvesDone() throws InterruptedException {
        AtomicInteger halves = new AtomicInteger();
        ConcurrentHashMap<Thread, Boolean> helpers = new ConcurrentHashMap<>();
        Runnable caller = () -> {
            for (int i = 0; i < 2000; i++) {
                PairedThread.run(halves::incrementAndGet, () -> {
                    helpers.put(Thread.currentThread(), true);
                    halves.incrementAndGet();
                });
            }
        };
        Thread a = new Thread(caller), b = new Thread(caller);
        a.start();
        b.start();
        a.join();
        b.join();
        assertEquals(8000, halves.get());
    }
}
