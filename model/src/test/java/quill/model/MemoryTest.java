package quill.model;

import quill.optim.AdamW;

import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.memory.AllocationsTracker;
import org.nd4j.linalg.api.memory.enums.AllocationKind;
import quill.autograd.Parameter;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A step's activations live in a workspace that is reused, so off-heap memory stays flat over many steps
 * (without one, it grew by about 4 MB a step). Checked over 1,000 training steps with evals and sampling
 * in between: the workspaces ND4J holds do not grow after warm-up, and neither does the resident size
 * outside the Java heap (G1 may grow the heap toward -Xmx as it likes; its garbage is collected, not
 * leaked). Resident sizes are sampled every 10 steps, and the least of each phase is compared. Each sample is
 * taken once the memory has settled: arrays no longer referenced are freed by JavaCPP's deallocator thread only
 * after a garbage collection has found them, and on a busy machine that thread runs late, so one collection
 * and a short pause read up to 280 MB that was only waiting to be freed (measured at a load average of 9; it
 * made a 118 MB "growth" once in 20 runs). So a sample repeats collection and pause until two readings in a
 * row agree: memory still waiting then goes, a leak stays, and the limit is what it was.
 */
class MemoryTest {

    @Test
    void thousandStepsKeepOffHeapMemoryFlat() throws InterruptedException {
        GptConfig config = new GptConfig(65, 16, 2, 2, 16, 0.1, true);
        Gpt gpt = new Gpt(config, 1);
        AdamW adamW = new AdamW(gpt.parameters(), 0.9, 0.99, 1e-8, 0.1);
        Random r = new Random(2);
        int[][] x = new int[4][16], y = new int[4][16];
        long workspaceAfterWarmup = 0;
        long[] early = new long[10], late = new long[10];
        for (int step = 0; step < 1000; step++) {
            for (int i = 0; i < 4; i++) {
                for (int j = 0; j < 16; j++) {
                    x[i][j] = r.nextInt(65);
                    y[i][j] = r.nextInt(65);
                }
            }
            gpt.parameters().values().forEach(Parameter::zeroGrad);
            gpt.forwardBackward(x, y, 1.0);
            AdamW.clipGradNorm(gpt.parameters().values(), 1.0);
            adamW.step(1e-3);
            if (step % 50 == 0) gpt.loss(x, y);
            if (step % 100 == 0) gpt.nextTokenLogits(x[0]);
            if (step == 400) workspaceAfterWarmup = workspaceBytes();
            if (step >= 400 && step < 500 && step % 10 == 0) early[(step - 400) / 10] = settledOffHeap();
            if (step >= 900 && step % 10 == 0) late[(step - 900) / 10] = settledOffHeap();
        }
        assertEquals(workspaceAfterWarmup, workspaceBytes(), "the step workspace grew");
        long growth = min(late) - min(early);
        assertTrue(growth < 64L << 20,
                "resident memory outside the Java heap grew by " + (growth >> 20) + " MB in 500 steps");
    }

    private static long workspaceBytes() {
        return AllocationsTracker.getInstance().bytesOnDevice(AllocationKind.WORKSPACE, 0);
    }

    /** Resident bytes not committed to the Java heap. */
    private static long offHeap() {
        return Pointer.physicalBytes() - Runtime.getRuntime().totalMemory();
    }

    /**
     * {@link #offHeap()} once the garbage collector has found, and the deallocator freed, what is unreachable:
     * collections and pauses until two readings in a row are within 1 MB (at most 50 rounds, 2.5 s).
     */
    private static long settledOffHeap() throws InterruptedException {
        long previous = Long.MAX_VALUE;
        for (int round = 0; round < 50; round++) {
            System.gc();
            Thread.sleep(50);
            long now = offHeap();
            if (Math.abs(now - previous) < 1L << 20) return now;
            previous = now;
        }
        return previous;
    }

    private static long min(long[] v) {
        return Arrays.stream(v).min().orElseThrow();
    }
}
