package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import quill.kernels.Elements;
import quill.autograd.Tensor;

import java.util.Arrays;

/**
 * Fast generation: every block's keys and values of the positions already seen, so that each new token
 * costs one position's work (its projections and MLP) plus attention over the cached keys and values,
 * instead of recomputing the whole context as {@link Gpt#nextTokenLogits} (and nanoGPT's {@code generate})
 * does. The forward pass is the model's own ({@link Gpt}, {@link Block}, {@link CausalSelfAttention}): a
 * block given its {@link Layer} appends the new keys and values and attends over the cache, so whatever a
 * layer computes (any norm, MLP, position scheme, a {@link Norm} of your own) is what generation uses.
 *
 * <p>Why it is exact: in a causal transformer the keys and values at position {@code i} depend only on
 * tokens {@code 0..i} and their positions, so appending a token does not change them.
 *
 * <p><b>When the context is full</b> ({@code blockSize} tokens) the window has to slide. nanoGPT crops the
 * context to its last {@code blockSize} tokens and runs them at positions {@code 0..blockSize-1}: every token
 * moves one position earlier, and, more importantly, loses the dropped token from its context. Both make the
 * cached keys and values stale: with learned positions they carry the old {@code wpe} rows, and with any
 * position scheme a block's keys past the first block were computed from hidden states that attended to the
 * dropped token. (Rotary embeddings remove the first reason, since scores then depend only on the distance
 * between query and key, but not the second: only a one-block model could keep its cache across a slide.)
 * So a slide drops the oldest tokens and recomputes the cache from the remaining window at positions
 * starting from 0 (a "prefill"). With {@code slide = 1} (the default) that happens on every token past the
 * block: each token then conditions on exactly the last {@code blockSize} tokens, as in nanoGPT, and the
 * text is identical to generation without the cache. With a larger {@code slide} the window drops that many
 * tokens at once, so the next {@code slide - 1} tokens are cheap appends again: much faster on long samples,
 * but each token then sees between {@code blockSize - slide + 1} and {@code blockSize} tokens of context,
 * so the text differs from nanoGPT's.
 *
 * <p>Speed: a prompt, or a window after a slide, goes through the blocks all at once; its attention is, per head, one
 * BLAS product for the scores and one for the weighted values, read straight from the rows of c_attn's output
 * ({@link LayerCache#window}: no ND4J views, whose making cost more than these small products). Past the first
 * {@code blockSize} tokens every token runs such a window (with slide 1), so it is what a long sample's speed depends
 * on; when the window fills the cache, its keys and values are not kept, since the next token slides and recomputes
 * them all. An appended token's attention over the cache is plain Java loops over keys and values kept in Java arrays
 * (in double): at these sizes (a 64-token window of 128 channels) a few hundred thousand multiply-adds, less than the
 * ND4J calls it would take. Only the last position goes on past the last block's attention ({@link
 * Block#forwardLast}): the logits need no other, so its MLP and lm_head run on one row.
 *
 * <p>For a model of nanoGPT's kind, {@link FastGpt} computes the same logits, bit for bit, without the tape's
 * bookkeeping and without ND4J: that is what {@code quill sample} and {@code Sampler} run for such models.
 */
public final class KvCache {
    private final Gpt model;
    private final int blockSize, nHead, headSize;
    private final Layer[] layers;
    /** Which tokens are cached, and what the next step computes. */
    private final CacheWindow window;

    /** A cache with nanoGPT's exact cropping (slide 1). */
    public KvCache(Gpt model) {
        this(model, 1);
    }

    /**
     * @param slide how many of the oldest tokens to drop at once when the context is full, 1 to
     *              blockSize: 1 matches nanoGPT exactly (see the class comment for the trade-off)
     */
    public KvCache(Gpt model, int slide) {
        GptConfig c = model.config();
        this.window = new CacheWindow(c.blockSize(), slide);
        this.model = model;
        this.blockSize = c.blockSize();
        this.nHead = c.nHead();
        this.headSize = c.headSize();
        this.layers = new Layer[c.nLayer()];
        for (int i = 0; i < layers.length; i++) layers[i] = new Layer();
    }

    /**
     * The logits (one per vocabulary entry) for the token after {@code history[0..n)}, the whole
     * sequence so far (not cropped). When the history is what this cache saw last time plus one
     * token, only that token is computed; otherwise (a new prompt, or the context is full) the cache
     * is recomputed from the window of the history it must condition on.
     */
    public float[] nextTokenLogits(int[] history, int n) {
        int t = window.next(history, n);
        int[] ids = Arrays.copyOfRange(history, n - t, n);
        float[] logits = model.nextTokenLogits(ids, this);           // runs ids at positions length..length+t-1
        window.advance(history, n, t);
        return logits;
    }

    /**
     * The number of positions the cache stands for (at most blockSize). At blockSize the next token slides the window
     * and recomputes every key and value, so a full window's are not kept.
     */
    public int length() {
        return window.length();
    }

    Layer layer(int i) {
        return layers[i];
    }

    /** One block's cache: its keys and values, and the attention over them ({@link LayerCache}). */
    final class Layer {
        private final LayerCache cache = new LayerCache(blockSize, nHead, headSize);

        /** Where this step's positions start: the number already cached. */
        int length() {
            return window.length();
        }

        /**
         * Causal self-attention of the t new positions (at length..length+t-1) from their q, k and v
         * ({@code qkv}, (1, t, 3C), after QK-norm and rotation): for each query and head
         * {@code softmax(q k^T / sqrt(hs)) v} over the keys 0..its own position; the new keys and values are kept
         * for the tokens that follow, unless the cache is then full (the next token slides and recomputes them).
         * Returns y (1, t, C), every head's output side by side. Generation only: no gradient.
         */
        Tensor attend(Tensor qkvT) {
            return attend(qkvT, 0);
        }

        /**
         * As {@link #attend}, but only the last new position's query: y (1, 1, C); the keys and values are kept as
         * there. The model's last block needs no more, since the next token's logits come from the last position
         * alone ({@link Block#forwardLast}).
         */
        Tensor attendLast(Tensor qkvT) {
            return attend(qkvT, (int) qkvT.size(1) - 1);
        }

        /** Attends for the queries first..t-1 of the t new positions: y (1, t - first, C). */
        private Tensor attend(Tensor qkvT, int first) {
            if (qkvT.size(0) != 1) throw new IllegalArgumentException("a KV cache generates one sequence at a time");
            INDArray qkv = Elements.contiguousCopy(qkvT.value());
            int t = (int) qkv.size(1), rows = t - first;
            DataType type = qkv.dataType();
            Elements q = new Elements(qkv);
            INDArray y = Elements.empty(type, 1, rows, nHead * headSize);         // (1, rows, C)
            int length = window.length();
            if (length == 0) {                                                     // a window (prompt, or a slide)
                INDArray att = Elements.empty(type, nHead, rows, t);              // (nh, rows, T)
                LayerCache.window(q, t, first, nHead, headSize, new Elements(att), new Elements(y), 0, nHead);
                // a full window is followed by a slide, which recomputes every key and value: nothing to keep
                if (t < blockSize) cache.store(q, t, 0);
            } else {
                cache.appended(q, t, first, length, new Elements(y));
            }
            return Tensor.op("cachedAttention", y, g -> {
                throw new UnsupportedOperationException("generation through a KV cache has no backward pass");
            }, qkvT);
        }
    }
}
