package quill.kernels;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A Scratch hands a thread the same rows call after call, grown when asked for wider ones; never another's. */
class ScratchTest {
    @Test
    void aThreadKeepsItsRowsAndTheyGrowWhenAskedForWiderOnes() {
        Scratch scratch = new Scratch(3);
        float[][] first = scratch.floats(8);
        assertEquals(3, first.length);
        assertSame(first, scratch.floats(4));                          // narrower: the same rows
        float[][] wider = scratch.floats(16);
        assertTrue(wider[0].length >= 16 && wider[2].length >= 16);
        assertSame(wider, scratch.floats(16));
        assertNotSame(scratch.doubles(8), new Scratch(3).doubles(8));    // each user its own rows
    }

    @Test
    void twoThreadsNeverShareRows() throws InterruptedException {
        Scratch scratch = new Scratch(1);
        float[][] mine = scratch.floats(4);
        float[][][] theirs = new float[1][][];
        Thread other = new Thread(() -> theirs[0] = scratch.floats(4));
        other.start();
        other.join();
        assertNotSame(mine, theirs[0]);
    }

    @Test
    void atLeastOneRow() {
        assertThrows(IllegalArgumentException.class, () -> new Scratch(0));
    }
}
