package quill.interop;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import quill.autograd.Parameter;
import quill.optim.AdamW;
import quill.model.Gpt;
import quill.model.GptConfig;
import quill.io.Npy;
import quill.checkpoint.AtomicFiles;
import quill.checkpoint.Checkpoint;
import quill.train.LearningRateSchedule;
import quill.train.TrainConfig;
import quill.train.Trainer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * A Quill checkpoint as nanoGPT's {@code ckpt.pt} and {@code meta.pkl} ({@code quill export --format nanogpt}), for
 * nanoGPT's {@code sample.py} and {@code train.py --init_from=resume} to go on with. {@link NanoGpt} has the layout.
 */
public final class NanoGptExport {
    public static final String CKPT = "ckpt.pt";
    public static final String META = "meta.pkl";
    public static final String CONFIG = "train_config.py";
    /** nanoGPT's {@code best_val_loss} before its first eval. */
    private static final double NO_VAL_LOSS = 1e9;
    /** Quill's architecture switches and optimizer choice, which nanoGPT's model.py and train.py do not have. */
    private static final Set<String> QUILL_ONLY = Set.of("norm", "pos", "rope-base", "mlp", "mlp-hidden", "qk-norm",
            "tie-embeddings", "logit-softcap", "optimizer", "muon-lr", "muon-momentum", "muon-nesterov",
            "muon-ns-steps", "muon-weight-decay");

    private NanoGptExport() {
    }

    /**
     * Writes {@code outDir/ckpt.pt}, {@code outDir/meta.pkl} and the run's settings as {@code outDir/train_config.py}.
     * With {@code masks}, the state dict also holds each
     * attention's causal mask {@code attn.bias}, which nanoGPT's model has as a buffer on PyTorch before 2.0 (no
     * flash attention) and which {@code load_state_dict(strict=True)} then demands; PyTorch 2 refuses it.
     * A model nanoGPT's model.py cannot build, or a vocabulary meta.pkl cannot hold, is refused before anything
     * is written; so is an {@code outDir} that already holds a ckpt.pt.
     */
    public static void export(Checkpoint ckpt, Path outDir, boolean masks) throws IOException {
        GptConfig c = ckpt.modelConfig();
        Map<String, String> switches = c.arch().differences();
        if (ckpt.customNorm() != null || !switches.isEmpty()) {
            String what = ckpt.customNorm() != null ? "a norm of its own (" + ckpt.customNorm() + ")"
                    : switches.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
                            .collect(Collectors.joining(" "));
            throw new IllegalArgumentException("cannot export " + ckpt.file() + " to nanoGPT: its model has " + what
                    + ", which nanoGPT's model.py cannot build (LayerNorm, learned positions, a GELU MLP of 4 * n_embd,"
                    + " no QK-norm, tied embeddings, no soft-cap)");
        }
        if (ckpt.config().optimizer() != TrainConfig.Optimizer.ADAMW) {
            throw new IllegalArgumentException("cannot export " + ckpt.file() + " to nanoGPT: it was trained with "
                    + quill.model.Architecture.name(ckpt.config().optimizer())
                    + ", and nanoGPT's train.py resumes AdamW's"
                    + " state only");
        }
        MetaPkl.check(ckpt.tokenizer());
        Path target = outDir.resolve(CKPT);
        if (Files.exists(target)) {
            throw new IllegalArgumentException(outDir + " already holds a " + CKPT + ": export into another --out, or"
                    + " delete it first");
        }
        TrainConfig config = ckpt.config();
        Gpt model = ckpt.newModel();
        AdamW optimizer = new AdamW(model.parameters(), config.beta1(), config.beta2(), Trainer.ADAM_EPS,
                config.weightDecay());
        ckpt.loadOptimizer(optimizer);
        Map<String, TorchTensor[]> moments = moments(optimizer, model.parameters());

        Map<String, TorchTensor> weights = new LinkedHashMap<>();
        model.parameters().forEach((name, p) -> weights.put(name, tensor(p.value())));
        TorchFile.OrderedDict stateDict = new TorchFile.OrderedDict();
        TorchTensor mask = masks ? causalMask(c.blockSize()) : null;
        for (String name : NanoGpt.stateDictNames(c, masks)) {
            stateDict.put(name, NanoGpt.isMask(name) ? mask
                    : name.equals("lm_head.weight") ? weights.get("transformer.wte.weight")    // tied: the same tensor
                    : weights.get(name));
        }

        int iter = ckpt.state().iter();
        double lr = LearningRateSchedule.of(config).at(iter);
        Map<String, Object> checkpoint = new LinkedHashMap<>();
        checkpoint.put("model", stateDict);
        checkpoint.put("optimizer", optimizerState(c, config, optimizer.steps(), lr, moments));
        checkpoint.put("model_args", modelArgs(c));
        checkpoint.put("iter_num", iter);
        double best = ckpt.state().bestValLoss();
        checkpoint.put("best_val_loss", Double.isFinite(best) ? best : NO_VAL_LOSS);
        checkpoint.put("config", trainSettings(config, outDir));

        Files.createDirectories(outDir);
        TorchFile.write(target, checkpoint);
        MetaPkl.write(outDir.resolve(META), ckpt.tokenizer());
        AtomicFiles.write(outDir.resolve(CONFIG), trainConfigPy(ckpt, outDir).getBytes(StandardCharsets.UTF_8));
    }

    /**
     * The run's settings as a nanoGPT config file, which its train.py executes ({@code python train.py
     * DIR/train_config.py}): the resumed run keeps Quill's batch size, schedule and AdamW settings instead of
     * nanoGPT's GPT-2 defaults. Device, precision and compilation are left to nanoGPT's flags.
     */
    private static String trainConfigPy(Checkpoint ckpt, Path outDir) {
        StringBuilder py = new StringBuilder("# The settings of the Quill run exported from " + ckpt.file()
                + " (iteration " + ckpt.state().iter() + "), for nanoGPT:\n#   python train.py "
                + outDir.toAbsolutePath().resolve(CONFIG) + "   (add --device=cpu --compile=False without a GPU or"
                + " PyTorch 2)\n");
        Map<String, Object> settings = trainSettings(ckpt.config(), outDir.toAbsolutePath());
        settings.put("init_from", "resume");
        settings.forEach((key, value) -> {
            if (key.equals("seed") || !key.equals("init_from") && NanoGpt.NANOGPT_ONLY.contains(key)) return;
            String text = value instanceof String str ? "'" + str.replace("\\", "\\\\").replace("'", "\\'") + "'"
                    : value instanceof Boolean b ? (b ? "True" : "False") : String.valueOf(value);
            py.append(key).append(" = ").append(text).append('\n');
        });
        return py.toString();
    }

    /**
     * torch.optim.AdamW's {@code state_dict()} for nanoGPT's two groups: {@code state} numbers the parameters through
     * the groups in order (empty before the first step, as PyTorch creates it lazily); each group has its settings
     * and the numbers of its parameters.
     */
    private static Map<String, Object> optimizerState(GptConfig c, TrainConfig config, int steps, double lr,
                                                      Map<String, TorchTensor[]> moments) {
        Map<Integer, Object> state = new LinkedHashMap<>();
        List<Object> groups = new ArrayList<>();
        int index = 0;
        for (List<String> group : NanoGpt.optimizerGroups(c)) {
            List<Integer> params = new ArrayList<>();
            for (String name : group) {
                if (steps > 0) {
                    Map<String, Object> s = new LinkedHashMap<>();
                    s.put("step", TorchTensor.scalar(steps));
                    s.put("exp_avg", moments.get(name)[0]);
                    s.put("exp_avg_sq", moments.get(name)[1]);
                    state.put(index, s);
                }
                params.add(index++);
            }
            Map<String, Object> g = new LinkedHashMap<>();
            g.put("weight_decay", groups.isEmpty() ? config.weightDecay() : 0.0);
            g.put("lr", lr);
            g.put("betas", new Object[]{config.beta1(), config.beta2()});
            g.put("eps", Trainer.ADAM_EPS);
            // the switches of PyTorch 1.13 to 2.x; each reads only those it knows
            g.put("amsgrad", false);
            g.put("foreach", null);
            g.put("maximize", false);
            g.put("capturable", false);
            g.put("differentiable", false);
            g.put("fused", null);
            g.put("decoupled_weight_decay", true);
            g.put("params", params);
            groups.add(g);
        }
        Map<String, Object> optimizer = new LinkedHashMap<>();
        optimizer.put("state", state);
        optimizer.put("param_groups", groups);
        return optimizer;
    }

    /** nanoGPT's {@code model_args}, from which its train.py and sample.py build the GPT. */
    static Map<String, Object> modelArgs(GptConfig c) {
        Map<String, Object> args = new LinkedHashMap<>();
        args.put("n_layer", c.nLayer());
        args.put("n_head", c.nHead());
        args.put("n_embd", c.nEmbd());
        args.put("block_size", c.blockSize());
        args.put("bias", c.bias());
        args.put("vocab_size", c.vocabSize());
        args.put("dropout", c.dropout());
        return args;
    }

    /**
     * train.py's {@code config}: every setting of the run under its nanoGPT name, typed as in Python, with
     * nanoGPT's values for the settings Quill does not have (it runs on the CPU in float32, without wandb).
     * Quill's own settings nanoGPT lacks (seed) come along; nanoGPT only logs this dict.
     */
    private static Map<String, Object> trainSettings(TrainConfig config, Path outDir) {
        Map<String, Object> settings = new LinkedHashMap<>();
        Map<String, Object> nanoGptOnly = Map.of("eval_only", false, "init_from", "scratch", "wandb_log", false,
                "wandb_project", "owt", "wandb_run_name", "gpt2", "backend", "nccl", "device", "cpu",
                "dtype", "float32", "compile", false);
        config.toMap().forEach((key, text) -> {
            if (QUILL_ONLY.contains(key)) return;                   // nanoGPT's values, or the export was refused
            Object value = TrainConfig.convert(key, text, TrainConfig.typeOf(key), "");
            settings.put(NanoGpt.snake(key), key.equals("out-dir") ? outDir.toString() : value);
        });
        for (String key : NanoGpt.NANOGPT_ONLY) settings.put(key, nanoGptOnly.get(key));
        return settings;
    }

    /** The causal mask nanoGPT registers: {@code torch.tril(torch.ones(T, T)).view(1, 1, T, T)}. */
    private static TorchTensor causalMask(int t) {
        float[] values = new float[t * t];
        for (int i = 0; i < t; i++) Arrays.fill(values, i * t, i * t + i + 1, 1f);
        return TorchTensor.of(new long[]{1, 1, t, t}, values);
    }

    /** AdamW's two moments of each parameter, read back from what {@link AdamW#save} writes. */
    private static Map<String, TorchTensor[]> moments(AdamW optimizer, Map<String, Parameter> params)
            throws IOException {
        Path dir = Files.createTempDirectory("quill-export");
        try {
            optimizer.save(dir);
            Map<String, TorchTensor[]> moments = new LinkedHashMap<>();
            for (String name : params.keySet()) {
                moments.put(name, new TorchTensor[]{tensor(Npy.read(dir.resolve(name + ".exp_avg.npy"))),
                        tensor(Npy.read(dir.resolve(name + ".exp_avg_sq.npy")))});
            }
            return moments;
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path f : files.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
            }
        }
    }

    private static TorchTensor tensor(INDArray a) {
        return TorchTensor.of(a.shape(), a.castTo(DataType.FLOAT).dup('c').data().asFloat());
    }
}
