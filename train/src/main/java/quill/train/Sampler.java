package quill.train;

import quill.autograd.Rng;
import quill.model.Gpt;

import java.util.Arrays;
import java.util.function.IntConsumer;

/**
 * Picks next tokens from a model's logits, as nanoGPT's {@code generate} does: divide the logits by
 * the temperature, keep the {@code topK} largest, softmax, draw one. Low temperatures sharpen the
 * distribution toward the likeliest token (0 means always take it: greedy decoding); high ones
 * flatten it. Top-k cuts the long tail of unlikely tokens that makes text derail.
 *
 * <p>Seeded with its own {@link Rng}: the same model, prompt and seed give the same text.
 */
public final class Sampler {
    private final double temperature;
    private final int topK;
    private final Rng rng;

    /**
     * @param temperature 0 for greedy (argmax), else the divisor of the logits (nanoGPT: 0.8)
     * @param topK        keep only this many likeliest tokens; 0 or at least the vocabulary size keeps all (nanoGPT: 200)
     * @param seed        seeds the draws
     */
    public Sampler(double temperature, int topK, long seed) {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be 0 (greedy) or positive, got " + temperature);
        }
        if (topK < 0) throw new IllegalArgumentException("top-k must be at least 1 (or 0 for all tokens), got " + topK);
        this.temperature = temperature;
        this.topK = topK;
        this.rng = new Rng(seed);
    }

    /** The id drawn from {@code logits} (one per vocabulary entry; not modified). */
    public int next(float[] logits) {
        int v = logits.length;
        if (temperature == 0) return argmax(logits);
        // tokens below the k-th largest logit get probability 0 (nanoGPT sets their logits to -inf)
        float cutoff = Float.NEGATIVE_INFINITY;
        if (topK > 0 && topK < v) {
            float[] sorted = logits.clone();
            Arrays.sort(sorted);
            cutoff = sorted[v - topK];
        }
        // softmax(logits / temperature), shifted by the max for numerical safety
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) max = Math.max(max, l);
        double[] p = new double[v];
        double sum = 0;
        for (int i = 0; i < v; i++) {
            p[i] = logits[i] < cutoff ? 0 : Math.exp((logits[i] - max) / temperature);
            sum += p[i];
        }
        // inverse-CDF draw: the first id whose cumulative probability passes u
        double u = rng.nextDouble() * sum;
        double acc = 0;
        for (int i = 0; i < v; i++) {
            acc += p[i];
            if (u < acc) return i;
        }
        return argmax(logits); // only reachable through rounding at the very top
    }

    /**
     * Appends {@code maxNewTokens} ids to {@code prompt}, each drawn from the model's logits for the
     * context so far, cropped to its last {@code blockSize} ids as nanoGPT does; {@code onToken}
     * sees each new id as it is drawn (for streaming). Returns only the new ids. The model should
     * be in eval mode ({@link Gpt#setTraining}(false)).
     */
    public int[] generate(Gpt model, int[] prompt, int maxNewTokens, IntConsumer onToken) {
        if (prompt.length == 0) throw new IllegalArgumentException("the prompt must hold at least one token");
        int blockSize = model.config().blockSize();
        int[] all = Arrays.copyOf(prompt, prompt.length + maxNewTokens);
        int n = prompt.length;
        for (int i = 0; i < maxNewTokens; i++) {
            int from = Math.max(0, n - blockSize);
            int id = next(model.nextTokenLogits(Arrays.copyOfRange(all, from, n)));
            all[n++] = id;
            onToken.accept(id);
        }
        return Arrays.copyOfRange(all, prompt.length, n);
    }

    private static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }
}
