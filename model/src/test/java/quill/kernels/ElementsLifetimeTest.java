package quill.kernels;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link Elements} reads and writes an array's memory by address. Outside workspaces that memory is freed when the
 * garbage collector finds the array unreachable, so the Elements must keep its array reachable: a kernel that holds
 * only the Elements (crossEntropy's probabilities, a contiguous copy of a gradient) would otherwise read freed
 * memory, or write into it and corrupt the native heap.
 */
class ElementsLifetimeTest {

    @Test
    void elementsKeepTheirArrayAlive() throws InterruptedException {
        int n = 1000;
        Elements e = new Elements(Nd4j.valueArrayOf(new long[]{n}, 7.0f, DataType.FLOAT)); // only e refers to it
        List<INDArray> others = new ArrayList<>();
        for (int round = 0; round < 20; round++) {
            System.gc();
            Thread.sleep(20);                                   // the deallocator thread frees what GC found
            for (int k = 0; k < 20; k++) others.add(Nd4j.valueArrayOf(new long[]{n}, -1.0f, DataType.FLOAT));
        }
        float[] back = new float[n];
        e.get(0, back, n);
        for (int i = 0; i < n; i++) assertEquals(7.0f, back[i], "element " + i + " after the array was collected");
        assertEquals(400, others.size());
    }
}
