package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import quill.autograd.Nn;
import quill.autograd.Parameter;
import quill.kernels.Blas;
import quill.kernels.Elements;
import quill.kernels.GeluKernel;
import quill.kernels.LayerNormKernel;
import quill.kernels.Scratch;
import quill.runtime.PairedThread;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Generation for a model of nanoGPT's kind, on memory of its own and OpenBLAS, without ND4J: {@code quill sample}'s
 * path for such checkpoints, which then never starts ND4J (about half a second of start-up). It computes what {@link
 * KvCache} computes through {@link Gpt}'s layers, step for step with the same kernels ({@link LayerNormKernel}, {@link
 * GeluKernel}, {@link LayerCache}) and the same OpenBLAS calls, so the logits are the same bits and so is the text
 * ({@code FastGptTest}). Only the bookkeeping goes: each step writes into memory set aside once instead of a new ND4J
 * array and a node on the tape, which at the CPU preset's size cost as much as the products.
 *
 * <p>Read {@link Gpt}, {@link Block}, {@link CausalSelfAttention}, {@link Mlp} and {@link KvCache} to learn the model
 * and its cache; this file repeats their forward pass for generation, for one kind of model ({@link #supports}):
 * LayerNorm, learned or no positions, a GELU MLP, no QK-norm, no soft-cap, no LoRA, in float32.
 *
 * <p>Past the first block every token runs a full window (nanoGPT's crop). Its rows are independent everywhere but in
 * attention, and its heads are independent in attention, so with two threads ({@link Cache}) each takes about half of
 * the rows (split where OpenBLAS sums them as in one call, {@link #exactSplit}), then half of the heads, in turn
 * ({@link PairedThread}).
 */
public final class FastGpt {
    private final GptConfig config;
    private final Elements wte, wpe, lmHead, lnFWeight, lnFBias;
    private final Layer[] layers;
    /** What owns the memory of the weights when it is not {@link Elements#allocate}: the model, kept reachable. */
    private final Object owner;

    /** One block's weights; a bias is null when the model has none. */
    private record Layer(Elements ln1Weight, Elements ln1Bias, Elements cAttnWeight, Elements cAttnBias,
                         Elements cProjWeight, Elements cProjBias, Elements ln2Weight, Elements ln2Bias,
                         Elements fcWeight, Elements fcBias, Elements mlpProjWeight, Elements mlpProjBias) {
    }

    /** Finds a weight by its state-dict name ({@code transformer.h.0.attn.c_attn.weight}); null when there is none. */
    @FunctionalInterface
    public interface Weights {
        Elements get(String name);
    }

    private FastGpt(GptConfig config, Weights w, Object owner) {
        this.config = config;
        this.owner = owner;
        this.wte = w.get("transformer.wte.weight");
        this.wpe = config.arch().pos() == Architecture.PosType.LEARNED ? w.get("transformer.wpe.weight") : null;
        this.lmHead = config.arch().tieEmbeddings() ? wte : w.get("lm_head.weight");
        this.lnFWeight = w.get("transformer.ln_f.weight");
        this.lnFBias = config.bias() ? w.get("transformer.ln_f.bias") : null;
        this.layers = new Layer[config.nLayer()];
        for (int i = 0; i < layers.length; i++) {
            String p = "transformer.h." + i + ".";
            layers[i] = new Layer(w.get(p + "ln_1.weight"), bias(w, p + "ln_1.bias"),
                    w.get(p + "attn.c_attn.weight"), bias(w, p + "attn.c_attn.bias"),
                    w.get(p + "attn.c_proj.weight"), bias(w, p + "attn.c_proj.bias"),
                    w.get(p + "ln_2.weight"), bias(w, p + "ln_2.bias"),
                    w.get(p + "mlp.c_fc.weight"), bias(w, p + "mlp.c_fc.bias"),
                    w.get(p + "mlp.c_proj.weight"), bias(w, p + "mlp.c_proj.bias"));
        }
    }

    private Elements bias(Weights w, String name) {
        return config.bias() ? w.get(name) : null;
    }

    /** Whether a model of {@code config} is of the kind this class runs (its weights must also be float32). */
    public static boolean supports(GptConfig config) {
        Architecture arch = config.arch();
        return arch.norm() == Architecture.NormType.LAYERNORM && arch.pos() != Architecture.PosType.ROPE
                && arch.mlp() == Architecture.MlpType.GELU && !arch.qkNorm() && arch.logitSoftcap() == 0;
    }

    /** Whether {@link #of} can run {@code model}: {@link #supports} its config, float32, no LoRA, the fused ops. */
    public static boolean supports(Gpt model) {
        return supports(model.config()) && model.type == DataType.FLOAT && !model.customNorm && model.lora() == null
                && !model.readable;
    }

    /**
     * Generation for {@code model} on its own weights' memory (nothing copied): a later change of its weights is seen,
     * but a {@link Cache} keeps the keys and values it computed before.
     */
    public static FastGpt of(Gpt model) {
        if (!supports(model)) throw new IllegalArgumentException("FastGpt does not run this model: " + model.config());
        Map<String, Parameter> params = model.parameters();
        return new FastGpt(model.config(), name -> {
            Parameter p = params.get(name);
            if (p == null) throw new IllegalStateException("the model has no parameter " + name);
            return new Elements(p.value());
        }, model);
    }

    /**
     * Generation from weights given as float arrays by state-dict name (a checkpoint read without ND4J); each is checked
     * against the shape {@code config} gives it. {@code weights} returns null for a name it lacks.
     *
     * @throws IllegalArgumentException naming the first weight that is missing or of the wrong size
     */
    public static FastGpt load(GptConfig config, java.util.function.Function<String, float[]> weights) {
        if (!supports(config)) throw new IllegalArgumentException("FastGpt does not run this model: " + config);
        Map<String, long[]> shapes = shapes(config);
        Map<String, Elements> loaded = new LinkedHashMap<>();
        shapes.forEach((name, shape) -> {
            float[] v = weights.apply(name);
            long n = Arrays.stream(shape).reduce(1, (a, b) -> a * b);
            if (v == null) throw new IllegalArgumentException("the weights lack " + name);
            if (v.length != n) throw new IllegalArgumentException(name + " holds " + v.length + " values, "
                    + Arrays.toString(shape) + " needs " + n);
            Elements e = Elements.allocate(v.length);
            e.put(0, v, v.length);
            loaded.put(name, e);
        });
        return new FastGpt(config, loaded::get, null);
    }

    /** Every weight a model of {@code config} has, by state-dict name, with its shape, in {@link Gpt}'s order. */
    public static Map<String, long[]> shapes(GptConfig config) {
        int c = config.nEmbd(), hidden = config.mlpHidden();
        Map<String, long[]> s = new LinkedHashMap<>();
        s.put("transformer.wte.weight", new long[]{config.vocabSize(), c});
        if (config.arch().pos() == Architecture.PosType.LEARNED) {
            s.put("transformer.wpe.weight", new long[]{config.blockSize(), c});
        }
        for (int i = 0; i < config.nLayer(); i++) {
            String p = "transformer.h." + i + ".";
            weightAndBias(s, config, p + "ln_1", c);
            weightAndBias(s, config, p + "attn.c_attn", 3 * c, c);
            weightAndBias(s, config, p + "attn.c_proj", c, c);
            weightAndBias(s, config, p + "ln_2", c);
            weightAndBias(s, config, p + "mlp.c_fc", hidden, c);
            weightAndBias(s, config, p + "mlp.c_proj", c, hidden);
        }
        weightAndBias(s, config, "transformer.ln_f", c);
        if (!config.arch().tieEmbeddings()) s.put("lm_head.weight", new long[]{config.vocabSize(), c});
        return s;
    }

    private static void weightAndBias(Map<String, long[]> s, GptConfig config, String name, long... shape) {
        s.put(name + ".weight", shape);
        if (config.bias()) s.put(name + ".bias", new long[]{shape[0]});
    }

    public GptConfig config() {
        return config;
    }

    /**
     * A generation's keys and values, as {@link KvCache}'s ({@code slide} means the same: 1 crops as nanoGPT does);
     * {@code threads} 2 or more shares each full window with {@link PairedThread}'s thread, 1 computes it all here. The
     * logits are {@link KvCache}'s with the same slide, bit for bit, for either thread count.
     */
    public Cache cache(int slide, int threads) {
        return new Cache(slide, threads);
    }

    /** Each thread's two rows for the products' biases and the residual adds ({@link Scratch}). */
    private static final Scratch ROWS = new Scratch(2);

    /** One sequence's generation: see {@link FastGpt#cache}. Not for two threads at once. */
    public final class Cache {
        private final int t, c, nHead, hs, hidden, vocab, threads;
        /** Where a window's rows are split between the two threads, 0 for not at all ({@link FastGpt#rowsSplitExactly}). */
        private final int split;
        private final LayerCache[] caches;
        /** The activations of up to blockSize positions, (T, width) row after row. */
        private final Elements x, h, qkv, att, y, proj, fc, act, logits;
        private final double[] mean, rstd;
        /** Which tokens are cached, and what the next step computes, as in {@link KvCache}. */
        private final CacheWindow window;

        private Cache(int slide, int threads) {
            this.t = config.blockSize();
            this.window = new CacheWindow(t, slide);
            if (threads < 1) throw new IllegalArgumentException("threads must be at least 1, got " + threads);
            long largest = Math.max((long) config.nHead() * t * t, (long) t * Math.max(3 * config.nEmbd(),
                    config.mlpHidden()));
            if (largest > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("a window of this model needs "
                    + largest + " floats in one buffer, more than Java can index; sample with --no-kv-cache");
            this.c = config.nEmbd();
            this.nHead = config.nHead();
            this.hs = config.headSize();
            this.hidden = config.mlpHidden();
            this.vocab = config.vocabSize();
            this.threads = threads;
            this.split = threads > 1 ? exactSplit(t, new int[][]{{c, 3 * c}, {c, c}, {c, hidden}, {hidden, c}}) : 0;
            this.caches = new LayerCache[config.nLayer()];
            for (int i = 0; i < caches.length; i++) caches[i] = new LayerCache(t, nHead, hs);
            x = Elements.allocate(t * c);
            h = Elements.allocate(t * c);
            qkv = Elements.allocate(t * 3 * c);
            att = Elements.allocate(nHead * t * t);
            y = Elements.allocate(t * c);
            proj = Elements.allocate(t * c);
            fc = Elements.allocate(t * hidden);
            act = Elements.allocate(t * hidden);
            logits = Elements.allocate(vocab);
            mean = new double[t];
            rstd = new double[t];
        }

        /**
         * The logits for the token after {@code history[0..n)}, as {@link KvCache#nextTokenLogits}: one new position's
         * work when the history is the last one plus a token and the cache is not full, else the window it must
         * condition on, from position 0.
         */
        public float[] nextTokenLogits(int[] history, int n) {
            int count = window.next(history, n);
            for (int i = n - count; i < n; i++) {
                if (history[i] < 0 || history[i] >= vocab) throw new IllegalArgumentException("token id "
                        + history[i] + " is outside [0, " + vocab + ")");
            }
            float[] out = forward(history, n - count, count);
            window.advance(history, n, count);
            return out;
        }

        /**
         * Gpt.nextTokenLogits with this cache: ids {@code history[from, from + n)} at positions length..length+n-1,
         * every block's new keys and values kept (unless they fill the cache), the last position's logits returned.
         */
        private float[] forward(int[] history, int from, int n) {
            int pos0 = window.length(), last = layers.length - 1;
            rows(n, (r0, r1) -> {
                embed(history, from, pos0, r0, r1);                 // x = wte[ids] + wpe[positions]   (n, C)
                qkv(layers[0], r0, r1);                             // qkv = c_attn(ln_1(x))           (n, 3C)
            });
            for (int i = 0; i < last; i++) {
                Layer layer = layers[i], next = layers[i + 1];
                attention(caches[i], n, 0, pos0);                   // y = attention(qkv)              (n, C)
                rows(n, (r0, r1) -> {
                    linear(layer.cProjWeight, layer.cProjBias, c, c, y, r0, r1, proj);   // proj = c_proj(y)
                    add(r0, r1);                                    // x = x + attn(ln_1(x))
                    mlp(layer, r0, r1);                             // proj = mlp(ln_2(x))
                    add(r0, r1);                                    // x = x + mlp(ln_2(x))
                    qkv(next, r0, r1);                              // the next block's qkv
                });
            }
            // the last block (Block.forwardLast): every position's keys and values, the last position's query only
            Layer layer = layers[last];
            attention(caches[last], n, n - 1, pos0);                // y[0] = attention of the last query (1, C)
            linear(layer.cProjWeight, layer.cProjBias, c, c, y, 0, 1, proj); // proj[0] = c_proj(y[0])
            if (n > 1) {                                            // x[0] = x[n-1]: the last position, alone
                float[] row = scratch()[0];
                x.get((n - 1) * c, row, c);
                x.put(0, row, c);
            }
            add(0, 1);                                              // x[0] = x[0] + attn(...)
            mlp(layer, 0, 1);                                       // proj[0] = mlp(ln_2(x[0]))
            add(0, 1);                                              // x[0] = x[0] + mlp(...)
            norm(lnFWeight, lnFBias, 0, 1);                         // h[0] = ln_f(x[0])
            Blas.gemm(1, vocab, c, 1, h, 0, c, false, lmHead, 0, c, true, 0, logits, 0, vocab); // lm_head
            float[] out = new float[vocab];                         // (V)
            logits.get(0, out, vocab);
            java.lang.ref.Reference.reachabilityFence(owner);
            return out;
        }

        /** Rows [r0, r1) of x = wte[ids] + wpe[positions] (Gpt.residual's embedding and its add). */
        private void embed(int[] history, int from, int pos0, int r0, int r1) {
            float[][] s = scratch();
            float[] row = s[0], pos = s[1];
            for (int i = r0; i < r1; i++) {
                wte.get(history[from + i] * c, row, c);
                if (wpe != null) {
                    wpe.get((pos0 + i) * c, pos, c);
                    for (int j = 0; j < c; j++) row[j] += pos[j];
                }
                x.put(i * c, row, c);
            }
        }

        /** Rows [r0, r1) of qkv = c_attn(ln_1(x)) (CausalSelfAttention.qkv). */
        private void qkv(Layer layer, int r0, int r1) {
            norm(layer.ln1Weight, layer.ln1Bias, r0, r1);           // h = ln_1(x)
            linear(layer.cAttnWeight, layer.cAttnBias, c, 3 * c, h, r0, r1, qkv); // qkv = c_attn(h)
        }

        /**
         * KvCache.Layer.attend: the queries first..n-1 of the n new positions into y's first rows. A window (nothing
         * cached) shares its heads between the two threads; it keeps its keys and values unless it fills the cache.
         */
        private void attention(LayerCache cache, int n, int first, int pos0) {
            if (pos0 > 0) {
                cache.appended(qkv, n, first, pos0, y);
                return;
            }
            int half = threads > 1 && first == 0 && n == t ? nHead / 2 : 0;  // the last query alone: not shared
            if (half == 0) {
                LayerCache.window(qkv, n, first, nHead, hs, att, y, 0, nHead);
            } else {
                PairedThread.run(() -> LayerCache.window(qkv, n, first, nHead, hs, att, y, 0, half),
                        () -> LayerCache.window(qkv, n, first, nHead, hs, att, y, half, nHead));
            }
            if (n < t) cache.store(qkv, n, 0);                      // a full window is followed by a slide
        }

        /** Rows [r0, r1) of proj = c_proj(gelu(c_fc(ln_2(x)))) (Mlp.forward). */
        private void mlp(Layer layer, int r0, int r1) {
            norm(layer.ln2Weight, layer.ln2Bias, r0, r1);           // h = ln_2(x)                 (n, C)
            linear(layer.fcWeight, layer.fcBias, c, hidden, h, r0, r1, fc);    // fc = c_fc(h)                (n, H)
            GeluKernel.forward(fc, act, r0 * hidden, r1 * hidden);  // act = gelu(fc)
            linear(layer.mlpProjWeight, layer.mlpProjBias, hidden, c, act, r0, r1, proj); // proj = c_proj(act) (n, C)
        }

        /**
         * Nn.linear on rows [r0, r1) of {@code in} into the same rows of {@code out}: out = in W^T (+ b), W (outSize,
         * inSize).
         */
        private void linear(Elements w, Elements b, int inSize, int outSize, Elements in, int r0, int r1, Elements out) {
            Blas.gemm(r1 - r0, outSize, inSize, 1, in, (long) r0 * inSize, inSize, false, w, 0, inSize, true, 0,
                    out, (long) r0 * outSize, outSize);
            if (b == null) return;
            float[][] s = scratch();
            float[] bias = s[0], row = s[1];                        //   + b, on each row
            b.get(0, bias, outSize);
            for (int i = r0; i < r1; i++) {
                out.get(i * outSize, row, outSize);
                for (int j = 0; j < outSize; j++) row[j] += bias[j];
                out.put(i * outSize, row, outSize);
            }
        }

        /** Rows [r0, r1) of h = LayerNorm(x) (Nn.layerNorm's kernel). */
        private void norm(Elements weight, Elements bias, int r0, int r1) {
            LayerNormKernel.forward(x, weight, bias, h, mean, rstd, c, Nn.LAYER_NORM_EPS, r0, r1);
        }

        /** Rows [r0, r1) of x += proj (the residual adds, Ops.add). */
        private void add(int r0, int r1) {
            float[][] s = scratch();
            float[] row = s[0], d = s[1];
            for (int i = r0; i < r1; i++) {
                x.get(i * c, row, c);
                proj.get(i * c, d, c);
                for (int j = 0; j < c; j++) row[j] += d[j];
                x.put(i * c, row, c);
            }
        }

        /** This thread's two rows, wide enough for any row of a window (its halves run on two threads). */
        private float[][] scratch() {
            return ROWS.floats(Math.max(3 * c, hidden));
        }

        /** Where n rows are split between the two threads: only a full window's, and only where it is exact. */
        private int split(int n) {
            return n == t ? split : 0;
        }

        /** Runs {@code work} on rows [0, n): [0, split) here and [split, n) on the paired thread, or all here. */
        private void rows(int n, RowRange work) {
            int s = split(n);
            if (s == 0) work.run(0, n);
            else PairedThread.run(() -> work.run(0, s), () -> work.run(s, n));
        }
    }

    /**
     * Where two threads split a T-row window so that every product {@code (in, out)} sums each row as in one call,
     * nearest the middle: a multiple of 4 in [T/4, 3T/4] ({@link #rowsSplitExactly}), or 0 for nowhere. OpenBLAS's
     * SkylakeX kernels split 64 rows exactly at 32, its Haswell kernels (12 rows at a time) only at multiples of 12,
     * so at 36.
     */
    static int exactSplit(int t, int[][] shapes) {
        int mid = t / 2 / 4 * 4, lo = Math.max(1, t / 4), hi = Math.min(t - 1, t - t / 4);   // both halves non-empty
        for (int d = 0; d <= t / 4; d += 4) {
            if (mid - d >= lo && rowsSplitExactly(t, mid - d, shapes)) return mid - d;
            if (d > 0 && mid + d <= hi && rowsSplitExactly(t, mid + d, shapes)) return mid + d;
        }
        return 0;
    }

    /**
     * Whether OpenBLAS computes every row of each product {@code (in, out)} of a T-row window the same in two calls,
     * rows [0, s) and [s, T), as in one. For most shapes it does where s is a multiple of the rows its kernels take
     * at a time (4, 8, 12 or 16, by kernel), but its small-matrix path, taken by size, sums some shapes in another
     * order (a 64-row product of 512 inputs and 32 outputs differs from its two 32-row halves in most of its
     * elements). The order depends on the shapes, not on the values, so one product each on made-up values, on this
     * machine's OpenBLAS, tells.
     */
    static boolean rowsSplitExactly(int t, int s, int[][] shapes) {
        java.util.Random random = new java.util.Random(1);
        for (int[] shape : shapes) {
            int in = shape[0], out = shape[1];
            Elements x = Elements.allocate(t * in), w = Elements.allocate(out * in);
            Elements one = Elements.allocate(t * out), two = Elements.allocate(t * out);
            float[] values = new float[Math.max(t * in, out * in)];
            for (int i = 0; i < values.length; i++) values[i] = (float) random.nextGaussian();
            x.put(0, values, t * in);
            w.put(0, values, out * in);
            Blas.gemm(t, out, in, 1, x, 0, in, false, w, 0, in, true, 0, one, 0, out);
            Blas.gemm(s, out, in, 1, x, 0, in, false, w, 0, in, true, 0, two, 0, out);
            Blas.gemm(t - s, out, in, 1, x, (long) s * in, in, false, w, 0, in, true, 0, two, (long) s * out, out);
            float[] a = new float[t * out], b = new float[t * out];
            one.get(0, a, a.length);
            two.get(0, b, b.length);
            if (!Arrays.equals(a, b)) return false;                 // Arrays.equals compares floats bit for bit
        }
        return true;
    }

    @FunctionalInterface
    private interface RowRange {
        void run(int r0, int r1);
    }
}
