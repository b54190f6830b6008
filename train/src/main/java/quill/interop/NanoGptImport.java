package quill.interop;

import org.nd4j.linalg.factory.Nd4j;
import quill.autograd.Parameter;
import quill.random.TorchGenerator;
import quill.optim.AdamW;
import quill.model.Gpt;
import quill.model.GptHooks;
import quill.model.GptConfig;
import quill.io.Npy;
import quill.tokenizer.Tokenizer;
import quill.checkpoint.AtomicFiles;
import quill.checkpoint.Checkpoint;
import quill.checkpoint.CheckpointWriter;
import quill.data.PreparedData;
import quill.train.TrainConfig;
import quill.train.Trainer;
import quill.train.TrainingState;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * nanoGPT's {@code ckpt.pt} (and its {@code meta.pkl}) as a Quill run folder ({@code quill import}): a checkpoint that
 * {@code quill sample}, {@code attention} and {@code train --resume} read, the AdamW state included. What nanoGPT's
 * training on GPUs leaves in a checkpoint is handled: names prefixed by torch.compile's {@code _orig_mod.}, weights
 * in bfloat16 or float16 (converted to float32, exactly), and the causal-mask buffers of PyTorch before 2.0 (dropped:
 * Quill's attention masks by itself). See {@link NanoGpt} for the layout.
 */
public final class NanoGptImport {
    /** A GPT-2 BPE vocabulary (50257 tokens, nanoGPT pads it to 50304) has at least this many entries. */
    private static final int GPT2_VOCAB = 50257;

    /** What was imported: the model, where the run stands, and what was converted or left out. */
    public record Result(GptConfig model, int iter, double bestValLoss, int adamSteps, Path meta, List<String> notes) {
    }

    private NanoGptImport() {
    }

    /**
     * Reads {@code ckptFile} and writes {@code outDir}/ckpt-last.zip, ckpt-best.zip (the same state: nanoGPT keeps
     * one checkpoint) and config.properties. The vocabulary comes from {@code meta} or, when that is null, from a
     * meta.pkl beside the checkpoint or in {@code data/<dataset>/} (where nanoGPT's sample.py looks). Everything
     * is checked before anything is written; an {@code outDir} that holds a run already is refused.
     */
    public static Result run(Path ckptFile, Path meta, Path outDir) throws IOException {
        for (Path f : List.of(Checkpoint.last(outDir), Checkpoint.best(outDir))) {
            if (Files.exists(f)) {
                throw new IllegalArgumentException(outDir + " already holds a run (" + f.getFileName()
                        + "): import into another --out-dir, or delete it first");
            }
        }
        if (Files.isDirectory(ckptFile)) ckptFile = ckptFile.resolve(NanoGptExport.CKPT);   // nanoGPT's out_dir
        Object loaded = TorchFile.read(ckptFile);
        if (!(loaded instanceof Map<?, ?> top) || !(top.get("model") instanceof Map<?, ?> model)
                || !(top.get("model_args") instanceof Map<?, ?> args)) {
            String keys = loaded instanceof Map<?, ?> m ? " (its keys: " + m.keySet() + ")" : "";
            throw new IOException(ckptFile + " is a PyTorch file but not a checkpoint of nanoGPT's train.py: it has no"
                    + " 'model' and 'model_args'" + keys);
        }
        List<String> notes = new ArrayList<>();
        GptConfig c = modelConfig(args, ckptFile);
        Map<?, ?> settings = top.get("config") instanceof Map<?, ?> s ? s : Map.of();
        Path metaFile = findMeta(meta, ckptFile, settings, c);
        Tokenizer tokenizer = MetaPkl.read(metaFile);
        if (tokenizer.vocabSize() != c.vocabSize()) {
            throw new IOException(metaFile + " has " + tokenizer.vocabSize() + " characters but the model's vocab_size"
                    + " is " + c.vocabSize() + "; pass the meta.pkl of the dataset it was trained on (--meta)");
        }
        TrainConfig config = trainConfig(settings, c, outDir, ckptFile);

        Gpt gpt = new Gpt(c, config.seed());
        Map<String, TorchTensor> weights = weights(model, c, gpt.parameters(), ckptFile, notes);
        for (Map.Entry<String, Parameter> e : gpt.parameters().entrySet()) {
            TorchTensor t = weights.get(e.getKey());
            e.getValue().value().assign(Nd4j.create(t.values(), t.shape(), 'c'));
        }
        gpt.setTraining(false);
        AdamW optimizer = new AdamW(gpt.parameters(), config.beta1(), config.beta2(), Trainer.ADAM_EPS,
                config.weightDecay());
        int steps = loadOptimizer(top.get("optimizer"), c, gpt.parameters(), optimizer, ckptFile, notes);

        int iter = number(top.get("iter_num"), "iter_num", ckptFile).intValue();
        double best = top.containsKey("best_val_loss")
                ? number(top.get("best_val_loss"), "best_val_loss", ckptFile).doubleValue() : Double.POSITIVE_INFINITY;
        // nanoGPT saves at an eval and does not keep its random state: the run goes on with fresh batches
        TrainingState state = new TrainingState(iter, iter, best, new TorchGenerator(config.seed()).state(), new int[0],
                GptHooks.dropoutState(gpt));

        Files.createDirectories(outDir);
        AtomicFiles.write(outDir.resolve("config.properties"), ("# imported from " + ckptFile + "\n"
                + config.toProperties()).getBytes(StandardCharsets.UTF_8));
        CheckpointWriter writer = new CheckpointWriter();
        writer.write(Checkpoint.best(outDir), config, tokenizer, state, gpt, optimizer);
        writer.write(Checkpoint.last(outDir), config, tokenizer, state, gpt, optimizer);
        return new Result(c, iter, best, steps, metaFile, notes);
    }

    private static GptConfig modelConfig(Map<?, ?> args, Path file) throws IOException {
        try {
            return new GptConfig(intArg(args, "vocab_size", file), intArg(args, "block_size", file),
                    intArg(args, "n_layer", file), intArg(args, "n_head", file), intArg(args, "n_embd", file),
                    args.get("dropout") instanceof Number d ? d.doubleValue() : 0.0,
                    Boolean.TRUE.equals(args.get("bias")));
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": its model_args do not describe a GPT Quill can build: " + e.getMessage(),
                    e);
        }
    }

    private static int intArg(Map<?, ?> args, String key, Path file) throws IOException {
        if (!(args.get(key) instanceof Number n)) throw new IOException(file + ": model_args has no " + key);
        return n.intValue();
    }

    /**
     * The state dict's parameters by name, checked against nanoGPT's GPT of shape {@code c}: the same names and
     * shapes, lm_head.weight equal to wte's; other names (another architecture) are refused.
     */
    private static Map<String, TorchTensor> weights(Map<?, ?> stateDict, GptConfig c, Map<String, Parameter> params,
                                                    Path file, List<String> notes) throws IOException {
        Map<String, long[]> expected = new LinkedHashMap<>();
        for (String name : NanoGpt.parameterNames(c)) expected.put(name, params.get(name).shape());
        Map<String, TorchTensor> weights = new LinkedHashMap<>();
        TorchTensor lmHead = null;
        TreeSet<String> converted = new TreeSet<>();
        boolean compiled = false, masks = false;
        for (Map.Entry<?, ?> e : stateDict.entrySet()) {
            String name = String.valueOf(e.getKey());
            if (name.startsWith(NanoGpt.COMPILED_PREFIX)) {
                name = name.substring(NanoGpt.COMPILED_PREFIX.length());
                compiled = true;
            }
            if (!(e.getValue() instanceof TorchTensor t)) {
                throw new IOException(file + ": model entry " + name + " is not a tensor");
            }
            if (!t.dtype().equals("float32")) converted.add(t.dtype());
            if (NanoGpt.isMask(name)) {
                masks = true;                     // PyTorch 1.x's causal mask: Quill's attention has its own
            } else if (name.equals("lm_head.weight")) {
                lmHead = t;
            } else if (!expected.containsKey(name)) {
                throw new IOException(file + " is not a checkpoint of nanoGPT's GPT with its model_args (" + describe(c)
                        + "): it has a weight '" + name + "' that model has not (another architecture?)");
            } else if (!Arrays.equals(t.shape(), expected.get(name))) {
                throw new IOException(file + ": " + name + " has shape " + Arrays.toString(t.shape())
                        + " but its model_args (" + describe(c) + ") make it " + Arrays.toString(expected.get(name)));
            } else {
                weights.put(name, t);
            }
        }
        for (String name : expected.keySet()) {
            if (!weights.containsKey(name)) {
                throw new IOException(file + ": the model lacks " + name + " (" + describe(c) + ")");
            }
        }
        if (lmHead != null && !Arrays.equals(lmHead.values(), weights.get("transformer.wte.weight").values())) {
            throw new IOException(file + ": lm_head.weight differs from transformer.wte.weight; nanoGPT's GPT ties"
                    + " them, so this checkpoint is of another architecture");
        }
        if (compiled) notes.add("removed torch.compile's prefix " + NanoGpt.COMPILED_PREFIX + " from the names");
        if (masks) {
            notes.add("left out the causal-mask buffers attn.bias (PyTorch 1.x); Quill's attention masks by itself");
        }
        if (!converted.isEmpty()) notes.add("converted " + String.join(" and ", converted) + " tensors to float32");
        return weights;
    }

    /**
     * Fills {@code optimizer} from torch.optim.AdamW's state dict, whose parameters are numbered through nanoGPT's two
     * groups ({@link NanoGpt#optimizerGroups}); returns the step count. No optimizer, or one that has not stepped yet,
     * leaves the moments at zero, as PyTorch would start them.
     */
    private static int loadOptimizer(Object saved, GptConfig c, Map<String, Parameter> params, AdamW optimizer,
                                     Path file, List<String> notes) throws IOException {
        if (!(saved instanceof Map<?, ?> opt) || !(opt.get("state") instanceof Map<?, ?> state) || state.isEmpty()) {
            notes.add(saved == null ? "the checkpoint has no optimizer state: AdamW starts afresh"
                    : "AdamW had not stepped yet: its moments start at zero");
            return 0;
        }
        List<List<String>> groups = NanoGpt.optimizerGroups(c);
        if (!(opt.get("param_groups") instanceof List<?> savedGroups) || savedGroups.size() != groups.size()) {
            throw new IOException(file + ": its optimizer does not have nanoGPT's two parameter groups (weights"
                    + " decayed, biases and norms not), so its state cannot be matched to the parameters");
        }
        Path dir = Files.createTempDirectory("quill-import");
        try {
            Integer steps = null;
            for (int g = 0; g < groups.size(); g++) {
                List<?> indices = savedGroups.get(g) instanceof Map<?, ?> m && m.get("params") instanceof List<?> l
                        ? l : null;
                if (indices == null || indices.size() != groups.get(g).size()) {
                    throw new IOException(file + ": optimizer group " + g + " has "
                            + (indices == null ? "no" : indices.size()) + " parameters where nanoGPT's has "
                            + groups.get(g).size());
                }
                for (int i = 0; i < indices.size(); i++) {
                    String name = groups.get(g).get(i);
                    if (!(state.get(indices.get(i)) instanceof Map<?, ?> s)
                            || !(s.get("exp_avg") instanceof TorchTensor m)
                            || !(s.get("exp_avg_sq") instanceof TorchTensor v)) {
                        throw new IOException(file + ": the optimizer has no AdamW state (exp_avg, exp_avg_sq) for "
                                + name);
                    }
                    int step = number(s.get("step"), "the optimizer's step", file).intValue();
                    if (steps != null && step != steps) {
                        throw new IOException(file + ": AdamW's step differs between parameters (" + steps + " and "
                                + step + "); Quill's AdamW keeps one count for all");
                    }
                    steps = step;
                    long[] shape = params.get(name).shape();
                    for (TorchTensor t : List.of(m, v)) {
                        if (!Arrays.equals(t.shape(), shape)) {
                            throw new IOException(file + ": the optimizer's moment of " + name + " has shape "
                                    + Arrays.toString(t.shape()) + ", the parameter " + Arrays.toString(shape));
                        }
                    }
                    Npy.write(Nd4j.create(m.values(), shape, 'c'), dir.resolve(name + ".exp_avg.npy"));
                    Npy.write(Nd4j.create(v.values(), shape, 'c'), dir.resolve(name + ".exp_avg_sq.npy"));
                }
            }
            Properties p = new Properties();
            p.setProperty("steps", String.valueOf(steps));
            try (OutputStream out = Files.newOutputStream(dir.resolve("adamw.properties"))) {
                p.store(out, "from " + file);
            }
            optimizer.load(dir);
            return steps;
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path f : files.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
            }
        }
    }

    /** The meta.pkl to read: the one given, else one beside the checkpoint, else data/&lt;dataset&gt;/meta.pkl. */
    private static Path findMeta(Path given, Path ckptFile, Map<?, ?> settings, GptConfig c) throws IOException {
        if (given != null) return given;
        Path beside = ckptFile.toAbsolutePath().resolveSibling(NanoGptExport.META);
        if (Files.isRegularFile(beside)) return beside;
        if (settings.get("dataset") instanceof String dataset) {
            Path data = Path.of(PreparedData.DEFAULT_DATA_DIR, dataset, NanoGptExport.META);
            if (Files.isRegularFile(data)) return data;
        }
        if (c.vocabSize() >= GPT2_VOCAB) {
            throw new IOException(ckptFile + " has GPT-2's BPE vocabulary (vocab_size " + c.vocabSize() + ") and no"
                    + " meta.pkl; Quill reads character vocabularies only, from a meta.pkl (--meta)");
        }
        String data = settings.get("dataset") instanceof String d ? " or in data/" + d + "/" : "";
        throw new IOException("no meta.pkl beside " + ckptFile + data + ": pass the vocabulary with --meta (nanoGPT's"
                + " data/<dataset>/meta.pkl)");
    }

    /**
     * The run's settings: Quill's default preset, then every setting of nanoGPT's {@code config} that Quill has,
     * then the model's shape from {@code model_args}, and {@code outDir}.
     */
    private static TrainConfig trainConfig(Map<?, ?> settings, GptConfig c, Path outDir, Path file) throws IOException {
        Map<String, String> overrides = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : settings.entrySet()) {
            String key = NanoGpt.kebab(String.valueOf(e.getKey()));
            if (key != null && e.getValue() != null) overrides.put(key, text(e.getValue(), TrainConfig.typeOf(key)));
        }
        overrides.put("n-layer", String.valueOf(c.nLayer()));
        overrides.put("n-head", String.valueOf(c.nHead()));
        overrides.put("n-embd", String.valueOf(c.nEmbd()));
        overrides.put("block-size", String.valueOf(c.blockSize()));
        overrides.put("bias", String.valueOf(c.bias()));
        overrides.put("dropout", String.valueOf(c.dropout()));
        overrides.put("out-dir", outDir.toString());
        try {
            return TrainConfig.preset(TrainConfig.DEFAULT_PRESET).with(overrides);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": its settings (config) are not valid in Quill: " + e.getMessage(), e);
        }
    }

    /** A Python value as a setting's text: {@code True} is {@code true}, {@code 250.0} for a count {@code 250}. */
    private static String text(Object value, Class<?> type) {
        if ((type == int.class || type == long.class) && value instanceof Double d && d == Math.rint(d)) {
            return String.valueOf(d.longValue());
        }
        return String.valueOf(value);
    }

    /** A Python number or a 0-d tensor (nanoGPT's best_val_loss is one) as a number. */
    private static Number number(Object value, String what, Path file) throws IOException {
        if (value instanceof Number n) return n;
        if (value instanceof TorchTensor t && t.values().length == 1) return t.values()[0];
        throw new IOException(file + ": " + what + " is " + (value == null ? "missing" : "not a number"));
    }

    private static String describe(GptConfig c) {
        return "n_layer " + c.nLayer() + ", n_head " + c.nHead() + ", n_embd " + c.nEmbd() + ", block_size "
                + c.blockSize() + ", vocab_size " + c.vocabSize() + ", bias " + c.bias();
    }
}
