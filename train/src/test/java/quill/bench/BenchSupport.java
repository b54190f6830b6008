package quill.bench;

import org.nd4j.linalg.api.memory.MemoryWorkspace;
import quill.runtime.StepMemory;

/**
 * What the JMH benchmarks share: the shape of {@code shakespeare_char_cpu} and a step workspace configured as
 * the model's, so a benchmarked op allocates its temporaries as it does inside a training step.
 */
public final class BenchSupport {
    private BenchSupport() {
    }

    /** shakespeare_char_cpu: batch 12, block 64, 4 heads of 32, embedding 128, vocab 65. */
    public static final int B = 12, T = 64, N_HEAD = 4, C = 128, VOCAB = 65, ROWS = B * T;

    /** Opens the benchmark's step workspace; close it at the end of the invocation. */
    public static MemoryWorkspace stepWorkspace() {
        return StepMemory.open("quill-bench-step");
    }
}
