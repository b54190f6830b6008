package quill.runtime;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ParallelTest {

    /** Arrays of 5, 0, 17 and 3 elements, end to end, in 3 chunks: every element visited once, by one chunk. */
    @Test
    void rangeOverVisitsEveryElementOnce() {
        long[] lengths = {5, 0, 17, 3};
        AtomicIntegerArray[] seen = new AtomicIntegerArray[lengths.length];
        for (int i = 0; i < lengths.length; i++) seen[i] = new AtomicIntegerArray((int) lengths[i]);
        int before = Parallel.threads();
        int[] chunks = new int[1];
        Parallel.withThreads(3, () -> {
            chunks[0] = Parallel.chunks(25, 1);
            Parallel.rangeOver(lengths, 1, (chunk, item, from, to) -> {
                for (int e = from; e < to; e++) seen[item].incrementAndGet(e);
            });
        });
        assertEquals(3, chunks[0]);
        for (AtomicIntegerArray s : seen) for (int e = 0; e < s.length(); e++) assertEquals(1, s.get(e));
        assertEquals(before, Parallel.threads(), "withThreads leaves the thread's count as it was");
        assertThrows(IllegalArgumentException.class, () -> Parallel.withThreads(0, () -> { }));
    }

    @Test
    void withThreadsReturnsTheWorksNumberUnderItsThreadCount() {
        int before = Parallel.threads();
        assertEquals(3.0, Parallel.withThreads(3, () -> (double) Parallel.threads()));
        assertEquals(before, Parallel.threads());
    }
}
