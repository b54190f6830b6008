package quill.train;

/**
 * The learning rate at each iteration: a linear warm-up, then a cosine decay to a floor.
 * This is nanoGPT's {@code get_lr} in train.py, line for line:
 * <pre>
 *   lr
 *   ^   ___
 *   |  /   `--.__
 *   | /          `--.___________  minLr
 *   +--|--------------|--------> iteration
 *   warmupIters   lrDecayIters
 * </pre>
 * The warm-up keeps Adam's first steps small while its moment estimates are still noise; the cosine
 * lets the model settle into a minimum as the steps shrink (Loshchilov and Hutter, "SGDR: Stochastic
 * Gradient Descent with Warm Restarts", ICLR 2017, without the restarts).
 */
public record LearningRateSchedule(double learningRate, int warmupIters, int lrDecayIters, double minLr,
                                   boolean decayLr) {

    public static LearningRateSchedule of(TrainConfig c) {
        return new LearningRateSchedule(c.learningRate(), c.warmupIters(), c.lrDecayIters(), c.minLr(), c.decayLr());
    }

    /** The learning rate of iteration {@code it} (counted from 0). */
    public double at(int it) {
        if (!decayLr) return learningRate;
        // 1) linear warm-up for warmupIters steps
        if (it < warmupIters) return learningRate * (it + 1) / (warmupIters + 1);
        // 2) past lrDecayIters, the floor
        if (it > lrDecayIters) return minLr;
        // 3) in between, cosine decay from learningRate down to minLr
        double decayRatio = (double) (it - warmupIters) / (lrDecayIters - warmupIters);
        double coeff = 0.5 * (1.0 + Math.cos(Math.PI * decayRatio)); // from 1 to 0
        return minLr + coeff * (learningRate - minLr);
    }
}
