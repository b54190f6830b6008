package quill.model;

import quill.runtime.StepMemory;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import quill.autograd.Composed;
import quill.autograd.Nn;
import quill.autograd.Ops;
import quill.autograd.Parameter;
import quill.random.Rng;
import quill.autograd.Tensor;
import quill.random.TorchGenerator;
import quill.autograd.Variants;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The GPT language model, layer for layer nanoGPT's: token and position embeddings, {@code nLayer}
 * pre-LayerNorm blocks (causal self-attention, then a GELU MLP), a final LayerNorm, and {@code lm_head}
 * sharing its weight with the token embedding.
 *
 * <p>{@link GptConfig#arch()} switches parts for the LLaMA / modded-nanogpt family's choices
 * ({@link Architecture}): RMSNorm, rotary or no positions ({@code wpe} is then absent), ReLU squared or SwiGLU,
 * QK-norm, an {@code lm_head} of its own, a logit soft-cap.
 *
 * <p>One forward pass serves training, evaluation and generation: {@link KvCache} runs the same blocks, each
 * given its cache of keys and values.
 *
 * <p>The norms are also pluggable from Java: {@link #withNorm(GptConfig, long, Norm.Factory)} builds {@code ln_1},
 * {@code ln_2} and {@code ln_f} with a {@link Norm} of your own (RMSNorm, say) and everything else as usual, so the
 * backward, the optimizer, checkpoints and the training loop work unchanged. See {@link Norm}.
 *
 * <p>{@link #forward} builds the autograd tape in ordinary memory (for notebooks and debuggers).
 * {@link #forwardBackward}, {@link #loss} and {@link #nextTokenLogits} run the same code inside an ND4J
 * workspace, so a training step reuses its activation memory instead of allocating it anew.
 *
 * <p>One constructor, nanoGPT's {@code GPT(config)} at a seed; the other ways to make a model are static factories
 * named for their use. What only the training runtime needs (replicas, the dropout generator's state, a LoRA run's
 * files, a custom norm's name) is reached through {@link GptHooks}.
 */
public final class Gpt {
    private final GptConfig config;
    final Embedding wte;
    /** Null unless positions are learned ({@link Architecture.PosType#LEARNED}). */
    final Embedding wpe;
    /** wte's weight when tied (nanoGPT), else a weight of its own. */
    final Parameter lmHead;
    final List<Block> h = new ArrayList<>();
    final Norm lnF;
    private final Map<String, Parameter> parameters = new LinkedHashMap<>();
    /** The LoRA adapters' A and B by name ({@link #addLora}); empty without LoRA. */
    private final Map<String, Parameter> adapters = new LinkedHashMap<>();
    private LoraConfig lora;
    /** lm_head's adapter (only an untied lm_head can have one), or null. */
    private Lora lmHeadLora;
    private final Rng dropoutRng;
    final DataType type;
    private final Norm.Factory norm;
    /** Whether {@link #norm} is a Java class of the user's, which a checkpoint cannot describe. */
    final boolean customNorm;
    private boolean training = true;
    boolean readable;

    /**
     * nanoGPT's {@code GPT(config)} after {@code torch.manual_seed(seed)}: a float32 model whose initial weights
     * are the values nanoGPT draws, draw for draw (see {@link #initialize}). The other ways to make a model are
     * the static factories below, each named for what it is for.
     */
    public Gpt(GptConfig config, long seed) {
        this(config, new TorchGenerator(seed), DataType.FLOAT, null);
    }

    /**
     * As {@link #Gpt(GptConfig, long)} in the given precision: DOUBLE for gradient checks ({@code GradCheck}) and
     * exact comparisons with PyTorch's float64 dumps; FLOAT is the constructor's model.
     */
    public static Gpt inPrecision(GptConfig config, long seed, DataType type) {
        return new Gpt(config, new TorchGenerator(seed), type, null);
    }

    /**
     * A float32 model whose norms ({@code ln_1}, {@code ln_2}, {@code ln_f}) are made by {@code norm}, for
     * example {@code Gpt.withNorm(config, 1337, RmsNorm::new)}; every other layer and its init are as usual.
     */
    public static Gpt withNorm(GptConfig config, long seed, Norm.Factory norm) {
        return withNorm(config, seed, norm, DataType.FLOAT);
    }

    /** As {@link #withNorm(GptConfig, long, Norm.Factory)} in the given precision (DOUBLE to gradient-check it). */
    public static Gpt withNorm(GptConfig config, long seed, Norm.Factory norm, DataType type) {
        if (norm == null) throw new IllegalArgumentException("withNorm needs a Norm.Factory, e.g. RmsNorm::new");
        return new Gpt(config, new TorchGenerator(seed), type, norm);
    }

    /**
     * The model {@code quill train} builds: float32, its initial weights the next draws of {@code init}, as
     * nanoGPT's come from torch's global generator; the training loop then draws its batches from the same
     * generator, as nanoGPT does.
     */
    public static Gpt drawnFrom(GptConfig config, TorchGenerator init) {
        return new Gpt(config, init, DataType.FLOAT, null);
    }

    /**
     * A float32 model of {@code config} whose weights are zeros, for a checkpoint's weights to replace
     * ({@link #load}): nanoGPT's initial weights would be drawn only to be overwritten, a large part of
     * {@code quill sample}'s start-up. {@code seed} seeds the dropout masks as {@link #Gpt(GptConfig, long)} does.
     */
    public static Gpt forLoading(GptConfig config, long seed) {
        Gpt model = new Gpt(config, null, DataType.FLOAT, null);
        model.dropoutRng.setState(dropoutRng(seed).state());
        return model;
    }

    /**
     * The model with {@code init}'s initial weights, or zeros when {@code init} is null (a {@link #replica});
     * a null {@code custom} norm means the one {@link Architecture#norm()} names.
     */
    private Gpt(GptConfig config, TorchGenerator init, DataType type, Norm.Factory custom) {
        this.config = config;
        this.type = type;
        this.customNorm = custom != null;
        this.norm = custom != null ? custom
                : config.arch().norm() == Architecture.NormType.RMSNORM ? RmsNorm::new : LayerNorm::new;
        try (MemoryWorkspace ignored = StepMemory.outside()) {
            this.wte = new Embedding("transformer.wte", config.vocabSize(), config.nEmbd(), type);
            this.wpe = config.arch().pos() == Architecture.PosType.LEARNED
                    ? new Embedding("transformer.wpe", config.blockSize(), config.nEmbd(), type) : null;
            for (int i = 0; i < config.nLayer(); i++) h.add(new Block("transformer.h." + i, config, type, norm));
            this.lnF = norm.create("transformer.ln_f", config.nEmbd(), config.bias(), type);
            this.lmHead = config.arch().tieEmbeddings() ? wte.weight
                    : new Parameter("lm_head.weight", Init.zeros(type, config.vocabSize(), config.nEmbd()));
            if (init != null) initialize(init);
        }
        register(wte.weight);
        if (wpe != null) register(wpe.weight);
        for (Block block : h) block.parameters().forEach(this::register);
        lnF.parameters().forEach(this::register);
        if (lmHead != wte.weight) register(lmHead);
        this.dropoutRng = dropoutRng(init == null ? 0 : init.seed());
    }

    private static Rng dropoutRng(long seed) {
        return new Rng(seed ^ 0x5DEECE66DL);
    }

    /**
     * nanoGPT's initial weights, drawn from {@code g} exactly as PyTorch draws them in nanoGPT's
     * {@code GPT.__init__} (model.py), so that a seed gives the same model in Quill and in nanoGPT. Three passes:
     * <ol>
     *   <li>Building the modules runs PyTorch's default inits: nn.Embedding fills its weight with normal(0, 1),
     *       nn.Linear its weight and bias with uniform values (kaiming_uniform_). nanoGPT overwrites every one of
     *       them, but they use up draws, so they are drawn here too and thrown away.</li>
     *   <li>{@code self.apply(self._init_weights)}: every Embedding and Linear weight normal(0, 0.02), biases zero,
     * module by module in the order they were built; lm_head comes last, and as it is wte, wte is drawn twice.</li>
     *   <li>The projections into the residual stream, every {@code c_proj.weight}: normal(0, 0.02 / sqrt(2 nLayer))
     *       (GPT-2 paper), so the residual stream's variance does not grow with depth.</li>
     * </ol>
     * Norm weights start at one and biases at zero, which draws nothing.
     *
     * <p>The architecture switches follow the same recipe, as nanoGPT's model.py would with the module changed:
     * without learned positions there is no {@code wpe} to draw; an untied {@code lm_head} is an nn.Linear like
     * the others, drawn normal(0, 0.02) in its own right (instead of wte being drawn again); SwiGLU's wider
     * {@code c_fc} (2H outputs) and a custom {@code mlp-hidden} are ordinary Linears of their size; RMSNorm's
     * weight starts at one like LayerNorm's, so every variant starts as the same near-identity residual stream.
     */
    private void initialize(TorchGenerator g) {
        List<Linear> linears = new ArrayList<>();                                 // in the order nanoGPT builds them
        for (Block b : h) linears.addAll(List.of(b.attn.cAttn, b.attn.cProj, b.mlp.cFc, b.mlp.cProj));
        // 1. PyTorch's default inits, thrown away
        g.skipNormal((int) wte.weight.value().length());                         // nn.Embedding: normal(0, 1)
        if (wpe != null) g.skipNormal((int) wpe.weight.value().length());
        for (Linear l : linears) {  // nn.Linear: kaiming_uniform_, bias uniform
            g.skipUniform(l.weight.value().length() + (l.bias == null ? 0 : l.bias.value().length()));
        }
        g.skipUniform(lmHead.value().length());  // lm_head = nn.Linear(n_embd, vocab_size)
        // 2. _init_weights
        draw(g, wte.weight, 0.02);
        if (wpe != null) draw(g, wpe.weight, 0.02);
        for (Linear l : linears) draw(g, l.weight, 0.02);
        draw(g, lmHead, 0.02);  // lm_head (when tied, wte drawn again)
        // 3. the residual projections
        for (Block b : h) {
            draw(g, b.attn.cProj.weight, residualStd(config));
            draw(g, b.mlp.cProj.weight, residualStd(config));
        }
    }

    /** {@code p.normal_(0, std)}, drawn in float32 as PyTorch does (then cast to the model's precision). */
    private static void draw(TorchGenerator g, Parameter p, double std) {
        float[] values = new float[(int) p.value().length()];
        g.normal(values, 0, std);
        p.value().assign(Nd4j.create(values, p.shape(), 'c'));
    }

    /**
     * Another model of this one's configuration, norms and precision, holding a copy of its weights and
     * gradients of its own: a worker that trains on part of each batch on another thread
     * ({@code quill.train.DataParallel}).
     */
    Gpt replica() {
        Gpt replica = new Gpt(config, null, type, customNorm ? norm : null);
        for (Map.Entry<String, Parameter> p : parameters.entrySet()) {
            replica.parameters.get(p.getKey()).value().assign(p.getValue().value());
        }
        if (lora != null) {
            replica.addLora(lora, null);
            for (Map.Entry<String, Parameter> p : adapters.entrySet()) {
                replica.adapters.get(p.getKey()).value().assign(p.getValue().value());
            }
        }
        for (Map.Entry<String, Parameter> p : parameters.entrySet()) {
            replica.parameters.get(p.getKey()).setTrainable(p.getValue().requiresGrad());
        }
        replica.training = training;
        replica.setReadable(readable);
        return replica;
    }

    /** nanoGPT's init for the projections into the residual stream: std 0.02 / sqrt(2 nLayer). */
    static double residualStd(GptConfig config) {
        return 0.02 / Math.sqrt(2.0 * config.nLayer());
    }

    private void register(Parameter p) {
        if (parameters.putIfAbsent(p.name(), p) != null) {
            throw new IllegalArgumentException("two parameters are named " + p.name()
                    + ": a Norm must name its parameters after the name it is given");
        }
    }

    public GptConfig config() {
        return config;
    }

    /**
     * Every weight by nanoGPT state-dict name, in state-dict order; a tied lm_head is wte and not listed again.
     */
    public Map<String, Parameter> parameters() {
        return Collections.unmodifiableMap(parameters);
    }

    /**
     * The weights that training changes: every weight not frozen ({@link Parameter#setTrainable}), then the LoRA
     * adapters. Without LoRA, {@link #parameters()}. The optimizer, gradient clipping and the workers'
     * gradient sums see only these.
     */
    public Map<String, Parameter> trainable() {
        Map<String, Parameter> trainable = new LinkedHashMap<>();
        parameters.forEach((name, p) -> {
            if (p.requiresGrad()) trainable.put(name, p);
        });
        trainable.putAll(adapters);
        return Collections.unmodifiableMap(trainable);
    }

    /** The LoRA adapters' A and B matrices by name ({@code transformer.h.0.attn.c_attn.lora_A.weight}). */
    public Map<String, Parameter> adapters() {
        return Collections.unmodifiableMap(adapters);
    }

    /** The adapters' settings, or null for a model without LoRA. */
    public LoraConfig lora() {
        return lora;
    }

    /**
     * Freezes every weight and adds a LoRA adapter ({@link Lora}) to each Linear layer {@code config} targets, A
     * drawn from {@code init} in the order of the state dict (null leaves A at zero, for a copy to fill). A target
     * that matches no layer of this model, a rank above a target's smaller side, or lm_head when it is tied to
     * wte is an error, and leaves the model as it was.
     */
    public void addLora(LoraConfig config, TorchGenerator init) {
        if (lora != null) throw new IllegalStateException("this model already has LoRA adapters");
        Map<String, Linear> layers = new LinkedHashMap<>();
        for (int i = 0; i < h.size(); i++) {
            Block b = h.get(i);
            String block = "transformer.h." + i;
            layers.put(block + ".attn.c_attn", b.attn.cAttn);
            layers.put(block + ".attn.c_proj", b.attn.cProj);
            layers.put(block + ".mlp.c_fc", b.mlp.cFc);
            layers.put(block + ".mlp.c_proj", b.mlp.cProj);
        }
        boolean head = config.targets("lm_head");
        if (head && lmHead == wte.weight) {
            throw new IllegalArgumentException("lm_head is tied to transformer.wte (tie-embeddings true): an adapter on"
                    + " it would have to change the token embedding too, and a merge could not keep them tied; leave"
                    + " lm_head out of lora-targets");
        }
        layers.keySet().removeIf(name -> !config.targets(name));
        for (String t : config.targets()) {
            if (!(t.equals("lm_head") && head) && layers.keySet().stream().noneMatch(n -> n.endsWith(t))) {
                throw new IllegalArgumentException("lora target '" + t + "' matches no layer of this model");
            }
        }
        int limit = Integer.MAX_VALUE;
        String smallest = null;
        for (Map.Entry<String, Linear> l : layers.entrySet()) {
            int side = (int) Math.min(l.getValue().weight.size(0), l.getValue().weight.size(1));
            if (side < limit) {
                limit = side;
                smallest = l.getKey();
            }
        }
        if (head && this.config.nEmbd() < limit) {
            limit = this.config.nEmbd();
            smallest = "lm_head";
        }
        if (config.rank() > limit) {
            throw new IllegalArgumentException("lora-rank " + config.rank() + " is larger than layer " + smallest
                    + " allows (" + limit + ", the smaller side of its weight): a rank-" + limit + " adapter already"
                    + " spans the whole matrix; use a rank of at most " + limit);
        }
        try (MemoryWorkspace ignored = StepMemory.outside()) {
            for (Map.Entry<String, Linear> l : layers.entrySet()) {
                Linear linear = l.getValue();
                int in = (int) linear.weight.size(1), out = (int) linear.weight.size(0);
                linear.lora = new Lora(l.getKey(), in, out, config, type);
                for (Parameter p : linear.lora.parameters()) adapters.put(p.name(), p);
                if (init != null) linear.lora.initialize(init);
            }
            if (head) {
                lmHeadLora = new Lora("lm_head", this.config.nEmbd(), this.config.vocabSize(), config, type);
                lmHeadLora.parameters().forEach(p -> adapters.put(p.name(), p));
                if (init != null) lmHeadLora.initialize(init);
            }
        }
        parameters.values().forEach(p -> p.setTrainable(false));
        this.lora = config;
    }

    /**
     * Folds every adapter into its layer's weight, {@code W += (alpha / R) B A}, and removes the adapters: the
     * model then computes what the adapted model did, as a plain model whose every weight is trainable again.
     */
    public void mergeLora() {
        if (lora == null) throw new IllegalStateException("this model has no LoRA adapters to merge");
        for (Block b : h) {
            for (Linear l : List.of(b.attn.cAttn, b.attn.cProj, b.mlp.cFc, b.mlp.cProj)) {
                if (l.lora != null) l.weight.value().addi(l.lora.delta().castTo(type));
                l.lora = null;
            }
        }
        if (lmHeadLora != null) lmHead.value().addi(lmHeadLora.delta().castTo(type));
        lmHeadLora = null;
        adapters.clear();
        lora = null;
        parameters.values().forEach(p -> p.setTrainable(true));
    }

    /** Dropout on (training) or off (evaluation). {@link #loss} and {@link #nextTokenLogits} never drop out. */
    public void setTraining(boolean training) {
        this.training = training;
    }

    public boolean isTraining() {
        return training;
    }

    /**
     * With {@code true}, attention, layer norm, GELU and the loss run their readable versions: nanoGPT's lines,
     * each step of each formula a tensor of its own on the tape ({@link Composed}, and
     * {@code CausalSelfAttention.attendReadable}), to step through in a debugger or print in a notebook. Several
     * times slower; the same values and gradients as the fused ops (the tests check it). Off by default.
     */
    public void setReadable(boolean readable) {
        this.readable = readable;
        for (Block block : h) {
            block.attn.readable = readable;
            block.mlp.readable = readable;
            if (block.ln1 instanceof LayerNorm ln) ln.readable = readable;
            if (block.ln2 instanceof LayerNorm ln) ln.readable = readable;
        }
        if (lnF instanceof LayerNorm ln) ln.readable = readable;
    }

    /**
     * The logits (B, T, vocabSize) for ids (B, T), T at most blockSize, as a tape: call
     * {@code Nn.crossEntropy(logits, targets).backward()} to get every parameter's gradient.
     */
    public Tensor forward(int[][] idx) {
        return forward(idx, training ? dropoutRng : null);
    }

    private Tensor forward(int[][] idx, Rng rng) {
        return lmHead(lnF.forward(residual(idx, rng, null)), rng);  // (B, T, V)
    }

    /**
     * The residual stream after the last block, before ln_f: (B, T, C). With a {@code cache} (generation) the T
     * positions come after the cached ones: they sit at positions {@code cache.length()..}, each block attends
     * over its cache, and the last block computes the last position only, (1, 1, C), all the logits need.
     */
    private Tensor residual(int[][] idx, Rng rng, KvCache cache) {
        int t = checkIds(idx, "idx"), pos0 = cache == null ? 0 : cache.length();
        if (pos0 + t > config.blockSize()) throw new IllegalArgumentException("the cache holds " + pos0 + " positions: "
                + t + " more would pass blockSize " + config.blockSize());
        Tensor x = wte.forward(idx);                                // (B, T, C)  token embeddings
        if (wpe != null) x = Ops.add(x, wpe.forward(positions(pos0, t))); // + (1, T, C) position embeddings
        x = Nn.dropout(x, config.dropout(), rng);                   // (B, T, C)
        int last = h.size() - 1;
        for (int i = 0; i < last; i++) {
            x = h.get(i).forward(x, rng, cache == null ? null : cache.layer(i)); // (B, T, C)
        }
        if (cache != null) return h.get(last).forwardLast(x, cache.layer(last)); // (1, 1, C): the last position
        return h.get(last).forward(x, rng, null);                   // (B, T, C)
    }

    private Tensor crossEntropy(Tensor logits, int[][] targets) {
        return readable ? Composed.crossEntropy(logits, targets) : Nn.crossEntropy(logits, targets);
    }

    /** lm_head (tied to wte, or its own, perhaps with an adapter), then the soft-cap when on: (..., C) to (..., V). */
    private Tensor lmHead(Tensor x, Rng rng) {
        Tensor logits = Nn.linear(x, lmHead, null);                 // (..., V)
        if (lmHeadLora != null) logits = Ops.add(logits, lmHeadLora.forward(x, rng)); // + (alpha / R) x A^T B^T
        double cap = config.arch().logitSoftcap();
        return cap > 0 ? Variants.softcap(logits, cap) : logits;   // c * tanh(logits / c)
    }

    /**
     * One forward and backward pass on a batch: adds d(lossScale * loss)/d parameter into every
     * {@link Parameter#grad()} (so gradient accumulation is several calls with lossScale = 1/steps) and
     * returns the mean loss. Dropout is on if {@link #setTraining training}.
     */
    public double forwardBackward(int[][] idx, int[][] targets, double lossScale) {
        checkTargets(idx, targets);
        try (MemoryWorkspace ignored = StepMemory.step()) {
            Tensor loss = crossEntropy(forward(idx), targets);
            loss.backward(lossScale);
            return loss.value().getDouble(0);
        }
    }

    /** The mean loss on a batch, without dropout or gradients (for evaluation). */
    public double loss(int[][] idx, int[][] targets) {
        checkTargets(idx, targets);
        try (MemoryWorkspace ignored = StepMemory.step()) {
            return crossEntropy(forward(idx, null), targets).value().getDouble(0);
        }
    }

    /**
     * The logits for the token after {@code context} (its last blockSize ids are used), without dropout:
     * only the last position goes through lm_head, as in nanoGPT's generate.
     */
    public float[] nextTokenLogits(int[] context) {
        if (context.length == 0) {
            throw new IllegalArgumentException("nextTokenLogits needs at least one token of context");
        }
        int t = Math.min(context.length, config.blockSize());
        return nextTokenLogits(java.util.Arrays.copyOfRange(context, context.length - t, context.length), null);
    }

    /** The logits after {@code ids}, run after the positions {@code cache} holds (if any), whose cache they extend. */
    float[] nextTokenLogits(int[] ids, KvCache cache) {
        try (MemoryWorkspace ignored = StepMemory.step()) {
            INDArray x = residual(new int[][]{ids}, null, cache).value();        // (1, T, C), with a cache (1, 1, C)
            int t = (int) x.size(1);
            // (1, 1, C)
            INDArray last = x.reshape('c', t, config.nEmbd()).getRow(t - 1, true).reshape('c', 1, 1, config.nEmbd());
            // (V) ln_f, lm_head: last position only
            return lmHead(lnF.forward(Tensor.constant(last)), null).value().reshape(-1).toFloatVector();
        }
    }

    /**
     * The attention weights (B, nHead, T, T) of the last forward pass in block {@code layer}, as a copy (generation
     * through a {@link KvCache} computes its attention in the cache and keeps no weights here).
     */
    public INDArray attention(int layer) {
        if (layer < 0 || layer >= h.size()) {
            throw new IllegalArgumentException("layer " + layer + " does not exist: the model has " + h.size()
                    + " layers");
        }
        INDArray w = h.get(layer).attn.weights.copy();
        if (w == null) throw new IllegalStateException("no forward pass has run yet");
        return w;
    }

    /** The dropout generator's state: save it with a checkpoint to resume with the same masks. */
    long dropoutState() {
        return dropoutRng.state();
    }

    void setDropoutState(long state) {
        dropoutRng.setState(state);
    }

    /** Writes the {@link #trainable} weights and the adapters as {@code <name>.npy} into {@code dir} (a LoRA run's). */
    void saveTrainable(Path dir) throws IOException {
        ParameterFiles.save(trainable().values(), dir);
    }

    /** Reads what {@link #saveTrainable} wrote into a model adapted and frozen alike; on error nothing changes. */
    void loadTrainable(Path dir) throws IOException {
        ParameterFiles.load(trainable(), dir, config);
    }

    /** Writes every parameter as {@code <state-dict name>.npy} (float32, PyTorch layout) into {@code dir}. */
    public void save(Path dir) throws IOException {
        ParameterFiles.save(parameters.values(), dir);
    }

    /**
     * Reads parameters written by {@link #save} or by PyTorch (one .npy per state-dict name). Every file
     * must be present with the right shape and the folder may hold no other .npy; on error nothing changes.
     */
    public void load(Path dir) throws IOException {
        ParameterFiles.load(parameters, dir, config);
    }

    private int checkIds(int[][] idx, String what) {
        if (idx.length == 0 || idx[0].length == 0) throw new IllegalArgumentException(what + " is empty");
        int t = idx[0].length;
        if (t > config.blockSize()) {
            throw new IllegalArgumentException(what + " has " + t + " positions, more than blockSize "
                    + config.blockSize());
        }
        for (int[] row : idx) {
            if (row.length != t) throw new IllegalArgumentException("the rows of " + what + " differ in length");
            for (int id : row) {
                if (id < 0 || id >= config.vocabSize()) {
                    throw new IllegalArgumentException(what + " holds token id " + id + ", outside [0, "
                            + config.vocabSize() + ")");
                }
            }
        }
        return t;
    }

    private void checkTargets(int[][] idx, int[][] targets) {
        checkIds(idx, "idx");
        if (targets.length != idx.length || targets[0].length != idx[0].length) {
            throw new IllegalArgumentException("targets must have the shape of idx, " + idx.length + "x"
                    + idx[0].length);
        }
    }

    private static int[][] positions(int from, int t) {
        int[][] pos = new int[1][t];
        for (int i = 0; i < t; i++) pos[0][i] = from + i;
        return pos;
    }

    /**
     * The class name of this model's norms when they are a Java class of the user's ({@link #withNorm}), else
     * null: a checkpoint records the architecture by name, and cannot rebuild such a model by itself.
     */
    String customNormName() {
        return customNorm ? lnF.getClass().getName() : null;
    }
}
