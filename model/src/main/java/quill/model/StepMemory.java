package quill.model;

import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The memory of one step (a training step, an eval batch, a generated token): an ND4J workspace that
 * learns its size on the first step and is reused by every later one, so the activations are not
 * allocated anew each time (left to the garbage collector, off-heap memory grew by gigabytes in a
 * few hundred steps). It grows if a later step needs more. Everything created while it is open is
 * invalid once it closes: parameters, gradients and optimizer state live outside it.
 */
public final class StepMemory {
    private static final WorkspaceConfiguration CONFIG = WorkspaceConfiguration.builder()
            .initialSize(0)
            .overallocationLimit(0.1)
            .policyAllocation(AllocationPolicy.OVERALLOCATE)
            .policyLearning(LearningPolicy.FIRST_LOOP)
            .policySpill(SpillPolicy.REALLOCATE)
            .build();

    private StepMemory() {
    }

    /** Opens the workspace called {@code name} for this thread; close it when the step ends. */
    public static MemoryWorkspace open(String name) {
        return Nd4j.getWorkspaceManager().getAndActivateWorkspace(CONFIG, name);
    }
}
