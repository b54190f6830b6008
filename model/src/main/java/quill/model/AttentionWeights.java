package quill.model;

import quill.runtime.StepMemory;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * One attention layer's weights (B, nh, T, T) from its last forward pass, kept for {@link Gpt#attention} (the
 * pictures of {@code quill attention}, a notebook's heatmaps). The softmax writes them straight into
 * {@link #buffer}, so keeping them costs no copy in a training step.
 *
 * <p>A step's arrays live in its workspace and are gone when the step ends, so inside a workspace the buffer
 * is a reused array outside it, which stays readable after the step; outside any workspace (a notebook
 * running the tape by hand) each forward gets an array of its own.
 */
final class AttentionWeights {
    /** Backing store outside workspaces; grows, never shrinks. */
    private INDArray store;
    private INDArray last;

    /** Where this forward's weights go: (B, nh, T, T), c order. */
    INDArray buffer(long b, long nHead, long t, DataType type) {
        long n = b * nHead * t * t;
        if (Nd4j.getMemoryManager().getCurrentWorkspace() == null) {
            last = Nd4j.createUninitialized(type, new long[]{b, nHead, t, t}, 'c');
            return last;
        }
        try (MemoryWorkspace ignored = StepMemory.outside()) {
            if (store == null || store.length() < n || store.dataType() != type) {
                store = Nd4j.createUninitialized(type, n);
            }
            last = store.get(NDArrayIndex.interval(0, n)).reshape('c', b, nHead, t, t);
        }
        return last;
    }

    /** A copy of the last forward's weights (the buffer is overwritten by the next); null before any. */
    INDArray copy() {
        if (last == null) return null;
        try (MemoryWorkspace ignored = StepMemory.outside()) {
            return last.dup('c');
        }
    }
}
