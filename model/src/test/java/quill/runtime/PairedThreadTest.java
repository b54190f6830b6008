package quill.runtime;

import org.junit.jupiter.api.Test;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

class PairedThreadTest {
    @Test
    void bothHalvesRunOnTwoThreadsAndAreDoneOnReturn() throws InterruptedException {
        Thread[] ran = new Thread[2];
        int[] sums = new int[2];
        for (int round = 0; round < 2000; round++) {
            int r = round;
            PairedThread.run(() -> {
                ran[0] = Thread.currentThread();
                sums[0] += r;
            }, () -> {
                ran[1] = Thread.currentThread();
                sums[1] += r;
            });
            assertEquals(sums[0], sums[1], "round " + round);           // the helper's half is done on return
            if (round == 1000) Thread.sleep(5);                         // long enough for the helper to park
        }
        assertSame(Thread.currentThread(), ran[0]);
        assertNotSame(ran[0], ran[1]);
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
