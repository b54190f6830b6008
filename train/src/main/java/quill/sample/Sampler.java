package quill.sample;

import quill.random.Rng;
import quill.model.FastGpt;
import quill.model.Gpt;
import quill.model.KvCache;

import java.util.Arrays;
import java.util.Comparator;
import java.util.function.IntConsumer;
import java.util.stream.IntStream;

/**
 * Picks next tokens from a model's logits, as nanoGPT's {@code generate} does: divide the logits by
 * the temperature, keep the {@code topK} largest, softmax, draw one. Low temperatures sharpen the
 * distribution toward the likeliest token (0 means always take it: greedy decoding); high ones
 * flatten it. Top-k cuts the long tail of unlikely tokens that makes text derail.
 *
 * <p>Top-p (nucleus sampling, Holtzman et al. 2019, "The Curious Case of Neural Text Degeneration",
 * arXiv:1904.09751) is applied after top-k: keep the smallest set of likeliest tokens whose
 * probabilities add up to at least {@code topP}, so the cut adapts to how sure the model is (a few
 * tokens when it is confident, many when it is not). 1 turns it off, as in nanoGPT, which has none.
 *
 * <p>Seeded with its own {@link Rng}: the same model, prompt and seed give the same text.
 */
public final class Sampler {
    private final double temperature;
    private final int topK;
    private final double topP;
    private final Rng rng;

    /** Where each step's logits come from, given the whole sequence so far {@code history[0..n)}. */
    @FunctionalInterface
    public interface Logits {
        float[] next(int[] history, int n);
    }

    /**
     * nanoGPT's way: the full forward pass over the context cropped to its last blockSize tokens,
     * recomputed for every new token.
     */
    public static Logits fullForward(Gpt model) {
        int blockSize = model.config().blockSize();
        return (history, n) -> model.nextTokenLogits(Arrays.copyOfRange(history, Math.max(0, n - blockSize), n));
    }

    /**
     * The same logits through a {@link KvCache} (or {@link FastGpt}, bit for bit the same, when it runs the model): one
     * position's work per token. {@code slide} 1 crops exactly as {@link #fullForward} (same text); larger is faster
     * past the block but sees less context.
     */
    public static Logits cached(Gpt model, int slide) {
        return cached(model, slide, 1);
    }

    /**
     * As {@link #cached(Gpt, int)}, with each full window's work shared by {@code threads} (1 or 2) threads when the model
     * is one {@link FastGpt} runs: it computes the same logits as a {@link KvCache}, bit for bit, faster.
     */
    public static Logits cached(Gpt model, int slide, int threads) {
        if (FastGpt.supports(model)) return FastGpt.of(model).cache(slide, threads)::nextTokenLogits;
        return new KvCache(model, slide)::nextTokenLogits;
    }

    /** Top-p off. */
    public Sampler(double temperature, int topK, long seed) {
        this(temperature, topK, 1.0, seed);
    }

    /**
     * @param temperature 0 for greedy (argmax), else the divisor of the logits (nanoGPT: 0.8)
     * @param topK        keep only this many likeliest tokens; 0 or at least the vocabulary size keeps all
     *                    (nanoGPT: 200)
     * @param topP        in (0, 1]: keep the likeliest tokens whose probabilities sum to at least this; 1 keeps all
     * @param seed        seeds the draws
     */
    public Sampler(double temperature, int topK, double topP, long seed) {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be 0 (greedy) or positive, got " + temperature);
        }
        if (topK < 0) throw new IllegalArgumentException("top-k must be at least 0 (0 keeps every token), got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        this.temperature = temperature;
        this.topK = topK;
        this.topP = topP;
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
        if (topP < 1) sum = keepNucleus(p, sum);
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
     * Top-p: zeroes {@code p} (unnormalised probabilities summing to {@code sum}) outside the smallest
     * set of likeliest tokens whose share reaches {@code topP}; the token that crosses it is kept, so
     * at least one always is. Returns the new sum.
     */
    private double keepNucleus(double[] p, double sum) {
        Integer[] order = IntStream.range(0, p.length).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingDouble((Integer i) -> -p[i])); // likeliest first; stable on ties
        double kept = 0;
        int i = 0;
        while (i < order.length && kept < topP * sum) kept += p[order[i++]];
        for (; i < order.length; i++) p[order[i]] = 0;
        return kept;
    }

    /**
     * Appends {@code maxNewTokens} ids to {@code prompt}, each drawn from the model's logits for the
     * context so far, cropped to its last {@code blockSize} ids as nanoGPT does, computed through a
     * {@link KvCache} (the same text as without it, faster); {@code onToken} sees each new id as it is
     * drawn (for streaming). Returns only the new ids. The model should be in eval mode
     * ({@link Gpt#setTraining}(false)).
     */
    public int[] generate(Gpt model, int[] prompt, int maxNewTokens, IntConsumer onToken) {
        return generate(cached(model, 1), prompt, maxNewTokens, onToken);
    }

    /** As above, with the logits from {@code logits} ({@link #fullForward} or {@link #cached}). */
    public int[] generate(Logits logits, int[] prompt, int maxNewTokens, IntConsumer onToken) {
        if (prompt.length == 0) throw new IllegalArgumentException("the prompt must hold at least one token");
        int[] all = Arrays.copyOf(prompt, prompt.length + Math.min(maxNewTokens, 1 << 16)); // grown as needed
        int n = prompt.length;
        for (int i = 0; i < maxNewTokens; i++) {
            if (n == all.length) all = Arrays.copyOf(all, (int) Math.min(2L * n, Integer.MAX_VALUE - 8));
            int id = next(logits.next(all, n));
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
