package quill.runtime;

import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
import org.nd4j.linalg.api.ops.executioner.OpExecutioner;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The memory of one step (a training step, an eval batch, a generated token): an ND4J workspace that
 * learns its size on the first step and is reused by every later one, so the activations are not
 * allocated anew each time (left to the garbage collector, off-heap memory grew by gigabytes in a
 * few hundred steps). It grows if a later step needs more. Everything created while it is open is
 * invalid once it closes: parameters, gradients and optimizer state live outside it.
 *
 * <p>Loading this class also turns off ND4J's per-op profiling checks, which cost microseconds on every
 * call: every step of the model runs in here, so the checks are off before the first one.
 */
public final class StepMemory {
    /** The workspace a model's forward and backward passes run in, one per thread. */
    private static final String STEP = "quill-step";

    static {
        Nd4j.getExecutioner().setProfilingMode(OpExecutioner.ProfilingMode.DISABLED);
    }

    private static final WorkspaceConfiguration CONFIG = WorkspaceConfiguration.builder()
            .initialSize(0)
            .overallocationLimit(0.1)
            .policyAllocation(AllocationPolicy.OVERALLOCATE)
            .policyLearning(LearningPolicy.FIRST_LOOP)
            .policySpill(SpillPolicy.REALLOCATE)
            .build();

    private StepMemory() {
    }

    /** Opens this thread's workspace for one forward (and backward) pass of a model; close it when the pass ends. */
    public static MemoryWorkspace step() {
        return open(STEP);
    }

    /**
     * Until closed, arrays are created in ordinary memory even inside a step: for what must outlive the
     * step (a model's weights, the attention weights kept for pictures).
     */
    public static MemoryWorkspace outside() {
        return Nd4j.getWorkspaceManager().scopeOutOfWorkspaces();
    }

    /** Opens the workspace called {@code name} for this thread; close it when the step ends. */
    public static MemoryWorkspace open(String name) {
        return Nd4j.getWorkspaceManager().getAndActivateWorkspace(CONFIG, name);
    }
}
