package quill.model;

import java.io.IOException;
import java.nio.file.Path;

/**
 * What the training runtime needs of a {@link Gpt} and a learner does not: a replica for each data-parallel
 * worker, the dropout generator's state (checkpoints, resuming, replaying a step), the files of a LoRA run's
 * trained weights, and the name of a custom norm (checkpoints). Kept out of {@link Gpt}, whose public methods
 * are the model's own; nothing here changes what a model computes.
 */
public final class GptHooks {
    private GptHooks() {
    }

    /**
     * Another model of {@code model}'s configuration, norms and precision, holding a copy of its weights (and
     * adapters, frozen alike) and gradients of its own: a worker that trains on part of each batch on another
     * thread ({@code quill.train.DataParallel}).
     */
    public static Gpt replica(Gpt model) {
        return model.replica();
    }

    /** The state of {@code model}'s dropout generator: saved with a checkpoint to resume with the same masks. */
    public static long dropoutState(Gpt model) {
        return model.dropoutState();
    }

    /** Puts {@code model}'s dropout generator back to a state {@link #dropoutState} returned. */
    public static void setDropoutState(Gpt model, long state) {
        model.setDropoutState(state);
    }

    /** Writes the {@link Gpt#trainable} weights and adapters as {@code <name>.npy} into {@code dir} (a LoRA run's). */
    public static void saveTrainable(Gpt model, Path dir) throws IOException {
        model.saveTrainable(dir);
    }

    /** Reads what {@link #saveTrainable} wrote into a model adapted and frozen alike; on error nothing changes. */
    public static void loadTrainable(Gpt model, Path dir) throws IOException {
        model.loadTrainable(dir);
    }

    /**
     * The class name of {@code model}'s norms when they are a Java class of the user's ({@link Gpt#withNorm}), else
     * null: a checkpoint records the architecture by name and cannot rebuild such a model by itself.
     */
    public static String customNormName(Gpt model) {
        return model.customNormName();
    }
}
