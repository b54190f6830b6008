package quill.train;

/**
 * Where a run stands, beside the weights and optimizer moments: enough to continue it exactly.
 *
 * @param iter         the next iteration to run (optimizer steps taken so far)
 * @param lastEvalIter the iteration of the last evaluation (-1 before any), so a resumed run
 *                     does not evaluate the same iteration twice
 * @param bestValLoss  the lowest val loss of any evaluation so far
 * @param rngState     the state of the generator that draws every batch, training and eval, in nanoGPT's
 *                     order ({@link quill.random.TorchGenerator#state()})
 * @param nextBatch    the starts of the next training batch's windows, already drawn (nanoGPT draws each
 *                     batch right after the previous one is used, before the eval that may come between)
 * @param dropoutState the model's dropout generator's state
 */
public record TrainingState(int iter, int lastEvalIter, double bestValLoss,
                            long[] rngState, int[] nextBatch, long dropoutState) {

    /** Whether this state came from a checkpoint written before the batches were drawn as nanoGPT's (format 1). */
    public boolean resumable() {
        return rngState != null && nextBatch != null;
    }
}
