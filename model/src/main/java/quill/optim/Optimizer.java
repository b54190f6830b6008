package quill.optim;

import java.io.IOException;
import java.nio.file.Path;

/** What the training loop needs of an optimizer: a step at a learning rate, and its state saved with a checkpoint. */
public interface Optimizer {
    /** One update of every parameter from its gradient, at learning rate {@code lr} (the schedule's value). */
    void step(double lr);

    /** Writes the state (moments, step count) into {@code dir}. */
    void save(Path dir) throws IOException;

    /** Reads what {@link #save} wrote; on error nothing changes. */
    void load(Path dir) throws IOException;
}
