package quill.train;

import quill.data.TokenFile;

import quill.random.TorchGenerator;

/**
 * The training batches, nanoGPT's {@code get_batch('train')}: random windows of the token file, each batch drawn
 * one step ahead of its use (nanoGPT draws the next X, Y right after the forward pass, before the backward), from
 * the run's one generator, which also draws the evals' batches, in nanoGPT's order.
 *
 * <p>The batch drawn ahead ({@link #ahead}) is part of a checkpoint ({@link TrainingState#nextBatch}): with the
 * generator's state it makes a resumed run continue exactly where the stopped one would have.
 */
final class BatchStream {
    private final TokenFile file;
    private final TorchGenerator rng;
    private final int batchSize;
    private final int blockSize;
    /** The starts of the next batch's windows, already drawn. */
    private int[] ahead;

    BatchStream(TokenFile file, TorchGenerator rng, int batchSize, int blockSize) {
        this.file = file;
        this.rng = rng;
        this.batchSize = batchSize;
        this.blockSize = blockSize;
        this.ahead = file.sampleStarts(rng, batchSize, blockSize);
    }

    /** A resumed run's batch drawn ahead; one of another batch size is ignored (the next batch is drawn afresh). */
    void resume(int[] saved) {
        if (saved.length == batchSize) ahead = saved;
    }

    /** Fills {@code x} and {@code y} with the batch drawn ahead, draws the next one, and returns the used starts. */
    int[] next(int[][] x, int[][] y) {
        int[] used = ahead;
        file.fill(used, x, y);
        ahead = file.sampleStarts(rng, batchSize, blockSize);           // drawn as soon as used, as nanoGPT does
        return used;
    }

    /** The starts of the batch drawn ahead, for a checkpoint. */
    int[] ahead() {
        return ahead;
    }
}
