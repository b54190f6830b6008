package quill.autograd;

import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A trainable weight: a leaf of every tape it is used in, named as in nanoGPT's state dict
 * ({@code transformer.h.0.attn.c_attn.weight}). Its value and gradient live outside ND4J workspaces,
 * so they survive from step to step; backward passes add into {@link #grad()} until {@link #zeroGrad()}.
 */
public final class Parameter extends Tensor {
    private final String name;

    /** Wraps {@code value} (copied out of any workspace) with a zero gradient of the same shape. */
    public Parameter(String name, INDArray value) {
        super("parameter", detached(value), zerosLike(value), true, null);
        this.name = name;
    }

    public String name() {
        return name;
    }

    /** The accumulated d loss / d value; never null. */
    @Override
    public INDArray grad() {
        return grad;
    }

    /**
     * Whether backward passes compute this weight's gradient (the default). A frozen weight (LoRA's base,
     * {@code quill.model.Lora}) is read by the ops like a constant: no gradient is computed for it, so none
     * is stored, summed between workers, clipped or stepped.
     */
    public void setTrainable(boolean trainable) {
        setRequiresGrad(trainable);
    }

    public void zeroGrad() {
        grad.assign(0);
    }

    private static INDArray detached(INDArray value) {
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            return value.isAttached() || value.isView() || value.ordering() != 'c' ? value.dup('c') : value;
        }
    }

    private static INDArray zerosLike(INDArray value) {
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            return Nd4j.zeros(value.dataType(), value.shape());
        }
    }

    @Override
    public String toString() {
        return name + super.toString().substring("parameter".length());
    }
}
