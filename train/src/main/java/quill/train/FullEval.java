package quill.train;

import quill.model.Gpt;
import quill.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The loss over a whole split, every token predicted exactly once: deterministic, unlike nanoGPT's
 * {@code estimate_loss} (the mean of {@code eval_iters} random batches, whose noise is about ±0.01 at 20 batches).
 *
 * <p>The split's n tokens give n - 1 predictions (the first token has nothing before it). They are cut into
 * non-overlapping windows of the model's block size T, as nanoGPT's {@code get_batch} cuts its random windows:
 * window k reads tokens {@code kT .. kT+T-1} and predicts {@code kT+1 .. kT+T}; the last window is shorter. So,
 * as in training, each window's first prediction has one token of context and its last T. Why not overlapping
 * (strided) windows, which give every prediction a longer context: they cost T / stride times the compute, and
 * they measure another quantity, a lower loss than the one training minimises and estimates. With non-overlapping
 * windows, this loss is exactly what {@code estimate_loss} estimates (random windows average over the positions
 * 0..T-1 in the same way), so the two figures can sit side by side.
 *
 * <p>Bits per character is the total loss in bits over the number of characters the predicted tokens decode to
 * (Unicode code points), so models with different tokenizers compare fairly: a subword model predicts fewer, harder
 * tokens. With a character tokenizer it is the loss divided by ln 2.
 *
 * <p>The windows go in batches of {@link #BATCH} through {@link DataParallel#losses}, shared among its workers
 * (one per core by default), each batch in an ND4J workspace ({@link Gpt#loss}).
 */
public final class FullEval {
    /** Windows per forward pass: big enough to keep BLAS efficient, small enough to share among workers. */
    static final int BATCH = 32;

    /** The outcome: {@code predictions} tokens predicted, decoding to {@code characters} characters. */
    public record Result(long predictions, long characters, double totalNats, double seconds) {
        /** The mean cross-entropy per token, in nats (what training reports). */
        public double loss() {
            return totalNats / predictions;
        }

        /** e^loss: the number of equally likely tokens the model is as unsure as. */
        public double perplexity() {
            return Math.exp(loss());
        }

        /** The total loss in bits over the characters predicted. */
        public double bitsPerChar() {
            return totalNats / Math.log(2) / characters;
        }

        /** Tokens predicted per second. */
        public double tokensPerSecond() {
            return predictions / seconds;
        }
    }

    private final int[] tokens;
    private final long characters;

    /** An evaluation of {@code tokens} (a split, at least two), decoded with {@code tokenizer} to count characters. */
    public FullEval(int[] tokens, Tokenizer tokenizer) {
        if (tokens.length < 2) {
            throw new IllegalArgumentException("the split holds " + tokens.length + " token"
                    + (tokens.length == 1 ? "" : "s") + ": at least 2 are needed to predict one");
        }
        this.tokens = tokens;
        String predicted = tokenizer.decode(Arrays.copyOfRange(tokens, 1, tokens.length));
        this.characters = predicted.codePointCount(0, predicted.length());
    }

    /** Runs the model (in eval mode) over the split on a single thread. */
    public Result run(Gpt model) {
        try (DataParallel workers = new DataParallel(model, 1)) {
            return run(workers);
        }
    }

    /** Runs the workers' model over the split, in eval mode; the model's training mode is restored after. */
    public Result run(DataParallel workers) {
        long t0 = System.nanoTime();
        Gpt model = workers.model();
        boolean training = model.isTraining();
        model.setTraining(false);
        int t = model.config().blockSize();
        int predictions = tokens.length - 1;
        List<int[][]> xs = new ArrayList<>();
        List<int[][]> ys = new ArrayList<>();
        for (int start = 0; start < predictions; ) {
            int len = Math.min(t, predictions - start);
            int rows = len < t ? 1 : Math.min(BATCH, (predictions - start) / t); // the short last window on its own
            int[][] x = new int[rows][len];
            int[][] y = new int[rows][len];
            for (int b = 0; b < rows; b++, start += len) {
                System.arraycopy(tokens, start, x[b], 0, len);
                System.arraycopy(tokens, start + 1, y[b], 0, len);
            }
            xs.add(x);
            ys.add(y);
        }
        double[] means = workers.losses(xs, ys);
        model.setTraining(training);
        double total = 0;
        for (int i = 0; i < means.length; i++) total += means[i] * xs.get(i).length * xs.get(i)[0].length;
        return new Result(predictions, characters, total, (System.nanoTime() - t0) / 1e9);
    }
}
