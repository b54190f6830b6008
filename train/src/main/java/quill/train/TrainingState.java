package quill.train;

/**
 * Where a run stands, beside the weights and optimizer moments: enough to continue it exactly.
 *
 * @param iter           the next iteration to run (optimizer steps taken so far)
 * @param lastEvalIter   the iteration of the last evaluation (-1 before any), so a resumed run
 *                       does not evaluate the same iteration twice
 * @param bestValLoss    the lowest val loss of any evaluation so far
 * @param batchRngState  the training-batch generator's state
 * @param evalRngState   the eval-batch generator's state (separate, so eval settings never change training)
 * @param dropoutState   the model's dropout generator's state
 */
public record TrainingState(int iter, int lastEvalIter, double bestValLoss,
                            long batchRngState, long evalRngState, long dropoutState) {
}
