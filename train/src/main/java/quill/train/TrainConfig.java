package quill.train;

import quill.model.Architecture;

import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.io.StringReader;
import java.lang.reflect.RecordComponent;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CoderResult;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Every setting of a training run, under nanoGPT's names in camelCase ({@code train.py}'s globals).
 * In files and on the command line each is written in kebab-case: {@code maxIters} is
 * {@code max-iters = 2000} in a preset and {@code --max-iters 2000} as a flag; nanoGPT's snake_case names
 * ({@code max_iters = 2000}, {@code --max_iters=2000}) and its Python config files are accepted too.
 *
 * <p>Each component's {@link Setting} declares the setting once: {@code quill train} makes its flag and help line
 * from it, and a file that leaves the setting out reads as its {@link Setting#absent} value (the settings added after
 * the first presets: nanoGPT's architecture, AdamW, no LoRA, no target, as a run saved before they existed). The
 * presets in {@code presets/} name every setting, with a comment on each.
 */
public record TrainConfig(
        // --- data and output ---
        @Setting(label = "NAME", help = "Dataset folder under --data-dir.")
        String dataset,
        @Setting(label = "DIR", help = "Where the run's files go (default out/<preset>).")
        String outDir,

        // --- evaluation, logging, checkpoints ---
        @Setting(label = "N", help = "Evaluate every N iterations.")
        int evalInterval,
        @Setting(label = "N", help = "A console line every N iterations when not on a terminal.")
        int logInterval,
        @Setting(label = "N", absent = "0", help = "Record weight, gradient, update and activation statistics every N"
                + " iterations (0: off); 'quill report' draws them.")
        int healthInterval,
        @Setting(label = "N", help = "Batches per loss estimate.")
        int evalIters,
        @Setting(label = "BOOL", help = "Save at every eval, not only when val loss improves.")
        boolean alwaysSaveCheckpoint,
        @Setting(label = "X", absent = "0.0", help = "Stop at the first eval whose val loss is at most X once the whole"
                + " val split confirms it, and report the time to it (0: off).")
        double targetValLoss,

        // --- batches ---
        @Setting(label = "N", help = "Micro-batches per optimizer step.")
        int gradientAccumulationSteps,
        @Setting(label = "N", help = "Sequences per micro-batch.")
        int batchSize,
        @Setting(label = "N", help = "Context length in tokens.")
        int blockSize,

        // --- the model ---
        @Setting(label = "N", help = "Transformer blocks.")
        int nLayer,
        @Setting(label = "N", help = "Attention heads per block.")
        int nHead,
        @Setting(label = "N", help = "Embedding width.")
        int nEmbd,
        @Setting(label = "P", help = "Dropout probability in training.")
        double dropout,
        @Setting(label = "BOOL", help = "Biases in Linear and LayerNorm layers.")
        boolean bias,

        // --- the architecture switches, nanoGPT's when absent (see Architecture; README, "The researchers' lab") ---
        @Setting(label = "KIND", absent = "layernorm", help = "layernorm (default) or rmsnorm.")
        Architecture.NormType norm,
        @Setting(label = "KIND", absent = "learned", help = "Positions: learned (default), rope or none.")
        Architecture.PosType pos,
        @Setting(label = "B", absent = "10000.0", help = "RoPE's base (default 10000).")
        double ropeBase,
        @Setting(label = "KIND", absent = "gelu", help = "gelu (default), relu2 or swiglu.")
        Architecture.MlpType mlp,
        @Setting(label = "N", absent = "0", help = "MLP hidden width (0: 4 * n-embd).")
        int mlpHidden,
        @Setting(label = "BOOL", absent = "false", help = "Normalise q and k of every head (RMS) before attention.")
        boolean qkNorm,
        @Setting(label = "BOOL", absent = "true", help = "lm_head shares wte's weight (default true).")
        boolean tieEmbeddings,
        @Setting(label = "C", absent = "0.0", help = "Logits become C tanh(logits / C) (0: off).")
        double logitSoftcap,

        // --- the optimizer: AdamW when absent; Muon's settings matter only with muon ---
        @Setting(label = "NAME", absent = "adamw", help = "adamw (default), or muon for the block matrices and AdamW"
                + " for the rest.")
        Optimizer optimizer,
        @Setting(label = "LR", absent = "0.02", help = "Muon's peak learning rate (default 0.02).")
        double muonLr,
        @Setting(label = "M", absent = "0.95", help = "Muon's momentum (default 0.95).")
        double muonMomentum,
        @Setting(label = "BOOL", absent = "true", help = "Nesterov momentum in Muon (default true).")
        boolean muonNesterov,
        @Setting(label = "N", absent = "5", help = "Newton-Schulz steps (default 5).")
        int muonNsSteps,
        @Setting(label = "WD", absent = "0.0", help = "Muon's decoupled weight decay (default 0).")
        double muonWeightDecay,
        @Setting(label = "LR", help = "Peak learning rate.")
        double learningRate,
        @Setting(label = "N", help = "Optimizer steps in all.")
        int maxIters,
        @Setting(label = "WD", help = "AdamW's decoupled weight decay.")
        double weightDecay,
        @Setting(label = "B", help = "AdamW's first-moment decay.")
        double beta1,
        @Setting(label = "B", help = "AdamW's second-moment decay.")
        double beta2,
        @Setting(label = "NORM", help = "Clip the global gradient norm (0: off).")
        double gradClip,

        // --- the learning-rate schedule ---
        @Setting(label = "BOOL", help = "Warm-up and cosine decay (false: constant learning rate).")
        boolean decayLr,
        @Setting(label = "N", help = "Linear warm-up iterations.")
        int warmupIters,
        @Setting(label = "N", help = "Iteration where the cosine reaches min-lr.")
        int lrDecayIters,
        @Setting(label = "LR", help = "Learning-rate floor.")
        double minLr,

        @Setting(label = "N", help = "Seeds weights, batches and dropout.")
        long seed,

        // --- LoRA (Hu et al. 2021), with --init-from: adapters on the frozen base; PEFT's names and defaults ---
        @Setting(label = "R", absent = "0", help = "LoRA: train rank-R adapters B A on the targets, the base frozen"
                + " (default 0: every weight trains).")
        int loraRank,
        @Setting(label = "A", absent = "8.0", help = "LoRA: the adapters' output is scaled by A / R (default 8,"
                + " PEFT's).")
        double loraAlpha,
        @Setting(label = "P", absent = "0.0", help = "LoRA: dropout on the adapters' input (default 0).")
        double loraDropout,
        @Setting(label = "LIST", absent = "c_attn", help = "LoRA: the layers, comma-separated, by the end of their"
                + " names: c_attn (default), c_proj (attn.c_proj and mlp.c_proj), attn.c_proj, mlp.c_proj, c_fc,"
                + " lm_head (untied only).")
        String loraTargets) {

    /**
     * nanoGPT's {@code train.py} settings that mean nothing here (its devices, precisions, compiler and logging
     * service): a nanoGPT config file or flag that sets them is accepted, with a note that they are ignored.
     */
    public static final List<String> NANOGPT_ONLY = List.of("device", "dtype", "compile", "backend", "wandb_log",
            "wandb_project", "wandb_run_name");

    /** The preset {@code quill train} uses when given none. */
    public static final String DEFAULT_PRESET = "shakespeare_char_cpu";

    private static final Pattern CAPITAL = Pattern.compile("([a-z0-9])([A-Z])");

    /** A setting as its component declares it: the kebab-case key, the Java type and its {@link Setting}. */
    public record Declared(String key, Class<?> type, Setting about) {
    }

    /** Every setting, in declaration order: the presets', the flags' and config.properties' list. */
    public static final List<Declared> SETTINGS = Arrays.stream(TrainConfig.class.getRecordComponents())
            .map(c -> new Declared(kebab(c.getName()), c.getType(), Objects.requireNonNull(
                    c.getAnnotation(Setting.class), () -> c.getName() + " has no @Setting"))).toList();

    /** The settings' kebab-case names, in declaration order. */
    public static final List<String> KEYS = SETTINGS.stream().map(Declared::key).toList();

    /** Which optimizer trains the model: AdamW for every weight, or Muon for the block matrices and AdamW elsewhere. */
    public enum Optimizer { ADAMW, MUON }

    public TrainConfig {
        // each message is made only when its setting fails, not for every check on every construction (a checkpoint's
        // settings are built on the way to a sample's first token)
        require(!dataset.isBlank(), "dataset must not be empty");
        require(!outDir.isBlank(), "out-dir must not be empty");
        require(evalInterval >= 1, "eval-interval must be at least 1, got %s", evalInterval);
        require(logInterval >= 1, "log-interval must be at least 1, got %s", logInterval);
        require(healthInterval >= 0, "health-interval must not be negative (0 turns it off), got %s", healthInterval);
        require(evalIters >= 1, "eval-iters must be at least 1, got %s", evalIters);
        require(targetValLoss >= 0 && Double.isFinite(targetValLoss),
                "target-val-loss must be a loss above 0 (0 turns it off), got %s", targetValLoss);
        require(gradientAccumulationSteps >= 1,
                "gradient-accumulation-steps must be at least 1, got %s", gradientAccumulationSteps);
        require(batchSize >= 1, "batch-size must be at least 1, got %s", batchSize);
        require(blockSize >= 1, "block-size must be at least 1, got %s", blockSize);
        require(nLayer >= 1, "n-layer must be at least 1, got %s", nLayer);
        require(nHead >= 1, "n-head must be at least 1, got %s", nHead);
        require(nEmbd >= 1 && nEmbd % nHead == 0, "n-embd (%s) must be a positive multiple of n-head (%s)", nEmbd,
                nHead);
        require(dropout >= 0 && dropout < 1, "dropout must be in [0, 1), got %s", dropout);
        require(learningRate > 0 && Double.isFinite(learningRate), "learning-rate must be positive, got %s",
                learningRate);
        require(maxIters >= 0, "max-iters must not be negative, got %s", maxIters);
        require(weightDecay >= 0, "weight-decay must not be negative, got %s", weightDecay);
        require(beta1 >= 0 && beta1 < 1, "beta1 must be in [0, 1), got %s", beta1);
        require(beta2 >= 0 && beta2 < 1, "beta2 must be in [0, 1), got %s", beta2);
        require(gradClip >= 0, "grad-clip must not be negative (0 turns clipping off), got %s", gradClip);
        require(warmupIters >= 0, "warmup-iters must not be negative, got %s", warmupIters);
        require(!decayLr || lrDecayIters > warmupIters, "lr-decay-iters (%s) must be greater than warmup-iters (%s)",
                lrDecayIters, warmupIters);
        require(minLr >= 0 && minLr <= learningRate, "min-lr must be between 0 and learning-rate (%s), got %s",
                learningRate, minLr);
        // checks the switches' values (the fields are assigned only after this constructor's body)
        new Architecture(norm, pos, ropeBase, mlp, mlpHidden, qkNorm, tieEmbeddings, logitSoftcap);
        require(muonLr > 0 && Double.isFinite(muonLr), "muon-lr must be positive, got %s", muonLr);
        new quill.optim.Muon.Settings(muonMomentum, muonNesterov, muonNsSteps, muonWeightDecay).check();
        require(loraRank >= 0, "lora-rank must not be negative (0 trains every weight), got %s", loraRank);
        new quill.model.LoraConfig(Math.max(1, loraRank), loraAlpha, loraDropout,
                quill.model.LoraConfig.parseTargets(loraTargets));   // checks the LoRA settings' values
    }

    /** The LoRA adapters these settings ask for (PEFT's defaults: alpha 8, no dropout, c_attn), or null (rank 0). */
    public quill.model.LoraConfig lora() {
        return loraRank == 0 ? null : new quill.model.LoraConfig(loraRank, loraAlpha, loraDropout,
                quill.model.LoraConfig.parseTargets(loraTargets));
    }

    /** The optimizer these settings ask for, over {@code params}; AdamW's epsilon is PyTorch's default. */
    public quill.optim.Optimizer newOptimizer(Map<String, quill.autograd.Parameter> params) {
        double eps = Trainer.ADAM_EPS;
        if (optimizer == Optimizer.ADAMW) return new quill.optim.AdamW(params, beta1, beta2, eps, weightDecay);
        var muon = new quill.optim.Muon.Settings(muonMomentum, muonNesterov, muonNsSteps, muonWeightDecay);
        return new quill.optim.MuonAdamW(params, muon, muonLr, learningRate, beta1, beta2, eps, weightDecay);
    }

    /** The model's architecture switches. */
    public Architecture architecture() {
        return new Architecture(norm, pos, ropeBase, mlp, mlpHidden, qkNorm, tieEmbeddings, logitSoftcap);
    }

    /** Tokens one optimizer step learns from (nanoGPT's {@code tokens_per_iter}). */
    public long tokensPerIter() {
        return (long) gradientAccumulationSteps * batchSize * blockSize;
    }

    /** These settings with {@code overrides} (kebab-case name to value as text) applied. */
    public TrainConfig with(Map<String, String> overrides) {
        Map<String, String> all = toMap();
        for (Map.Entry<String, String> e : overrides.entrySet()) {
            if (!all.containsKey(e.getKey())) throw unknown(e.getKey(), "");
            all.put(e.getKey(), e.getValue());
        }
        return fromMap(all, "");
    }

    /** Name to value as text, in declaration order. */
    public Map<String, String> toMap() {
        Map<String, String> map = new LinkedHashMap<>();
        try {
            for (RecordComponent c : TrainConfig.class.getRecordComponents()) {
                Object value = c.getAccessor().invoke(this);
                map.put(kebab(c.getName()), value instanceof Enum<?> e ? Architecture.name(e) : String.valueOf(value));
            }
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
        return map;
    }

    /** One {@code key = value} line per setting, the format of the presets. */
    public String toProperties() {
        StringBuilder sb = new StringBuilder();
        toMap().forEach((k, v) -> sb.append(k).append(" = ").append(v).append('\n'));
        return sb.toString();
    }

    /** The settings of the named preset, {@code presets/<name>.properties} in the jar. */
    public static TrainConfig preset(String name) throws IOException {
        String resource = "/presets/" + name + ".properties";
        try (InputStream in = TrainConfig.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalArgumentException("no preset named '" + name + "'; the presets are: "
                        + String.join(", ", presetNames()));
            }
            String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            return fromMap(parse(text, "preset " + name), " in preset " + name);
        }
    }

    /** Reads a settings file in the presets' format; every setting in it must be known and well-typed. */
    public static Map<String, String> readFile(Path file) throws IOException {
        return readFile(file, note -> { });
    }

    /**
     * As {@link #readFile(Path)}, also for nanoGPT's config files ({@code config/train_shakespeare_char.py}): their
     * settings that Quill has no use for ({@link #NANOGPT_ONLY}) are left out, and {@code note} is told which.
     */
    public static Map<String, String> readFile(Path file, Consumer<String> note) throws IOException {
        if (!Files.isRegularFile(file)) throw new IOException("no settings file at " + file);
        Map<String, String> map = parse(text(file), file.toString());
        List<String> ignored = new ArrayList<>();
        for (String key : List.copyOf(map.keySet())) {
            if (NANOGPT_ONLY.contains(key)) {
                ignored.add(key);
                map.remove(key);
            } else if (!KEYS.contains(key)) {
                throw unknown(key, " in " + file);
            }
        }
        if (!ignored.isEmpty()) {
            note.accept("ignored nanoGPT's " + String.join(", ", ignored) + " in " + file + ": Quill trains on the CPU,"
                    + " in float32, without wandb");
        }
        return map;
    }

    /** The file's text, strict UTF-8; a byte that is not text is an error naming its line. */
    private static String text(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length);
        CoderResult r = StandardCharsets.UTF_8.newDecoder().decode(in, out, true);
        int bad = r.isError() ? in.position() : -1;
        for (int i = 0; i < bytes.length && bad < 0; i++) if (bytes[i] == 0) bad = i;
        if (bad >= 0) {
            int line = 1;
            for (int i = 0; i < bad; i++) if (bytes[i] == '\n') line++;
            throw new IOException(String.format(Locale.ROOT, "%s:%d: not a text file (byte 0x%02X at offset %d); a"
                    + " settings file is UTF-8 text of 'key = value' lines", file, line, bytes[bad] & 0xFF, bad));
        }
        return out.flip().toString();
    }

    /** Fails on a key given twice, naming both lines ({@link Properties} would keep the last silently). */
    private static void checkUnique(String text, String origin) {
        Map<String, Integer> seen = new HashMap<>();
        String[] lines = text.split("\r?\n|\r", -1);
        boolean continued = false;
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i].stripLeading();
            boolean wasContinued = continued;
            int slashes = 0;
            for (int k = line.length() - 1; k >= 0 && line.charAt(k) == '\\'; k--) slashes++;
            boolean comment = !wasContinued && (line.startsWith("#") || line.startsWith("!"));
            continued = slashes % 2 == 1 && !comment;          // a value that goes on, on the next line
            if (wasContinued || comment || line.isEmpty()) continue;
            Matcher m = KEY.matcher(line);
            if (!m.lookingAt()) continue;
            String key = m.group().trim();
            Integer first = seen.putIfAbsent(key, i + 1);
            if (first != null) {
                throw new IllegalArgumentException(origin + ":" + (i + 1) + ": " + key + " is given twice (first on"
                        + " line " + first + "); keep one");
            }
        }
    }

    private static final Pattern KEY = Pattern.compile("(?:\\\\.|[^=:\\s\\\\])+");

    /** Parses settings text in the presets' format; fails on a repeated key. */
    public static TrainConfig parseProperties(String text, String origin) {
        return fromMap(parse(text, origin), " in " + origin);
    }

    /** The names of the presets in the jar. */
    public static List<String> presetNames() {
        return List.of("shakespeare_char", "shakespeare_char_cpu", "shakespeare_char_speedrun");
    }

    private static Map<String, String> parse(String text, String origin) {
        checkUnique(text, origin);
        Properties p = new Properties();
        try (Reader r = new StringReader(text)) {
            p.load(r);
        } catch (IOException | IllegalArgumentException e) {
            throw new IllegalArgumentException("cannot read settings from " + origin + ": " + e.getMessage());
        }
        Map<String, String> map = new LinkedHashMap<>();
        for (String key : p.stringPropertyNames()) {
            map.put(canonical(key.trim()), pythonValue(p.getProperty(key).trim()));
        }
        return map;
    }

    /** A setting's name: nanoGPT's snake_case ({@code max_iters}) is an alias of the kebab-case {@code max-iters}. */
    public static String canonical(String key) {
        String kebab = key.replace('_', '-');
        return KEYS.contains(kebab) ? kebab : key;
    }

    /**
     * A value as nanoGPT's Python config files write it, {@code 'shakespeare_char'} (quotes) or {@code 250 # comment},
     * as the presets do ({@code shakespeare_char}, {@code 250}); {@code True} and {@code False} are read as booleans.
     */
    private static String pythonValue(String value) {
        if (value.length() >= 2 && (value.charAt(0) == '\'' || value.charAt(0) == '"')) {
            int end = value.indexOf(value.charAt(0), 1);
            if (end > 0 && QUOTED_TAIL.matcher(value.substring(end + 1)).matches()) return value.substring(1, end);
        }
        return COMMENT.matcher(value).replaceFirst("");
    }

    // compiled once: String.matches and replaceFirst compile their pattern on every call, and every setting of a
    // checkpoint (45) passes here on the way to a sample's first token
    private static final Pattern QUOTED_TAIL = Pattern.compile("\\s*(#.*)?"), COMMENT = Pattern.compile("\\s+#.*$");

    private static TrainConfig fromMap(Map<String, String> map, String where) {
        Object[] values = new Object[SETTINGS.size()];
        Class<?>[] types = new Class<?>[SETTINGS.size()];
        List<String> missing = new ArrayList<>();
        for (int i = 0; i < SETTINGS.size(); i++) {                // the record's components, in their order
            Declared setting = SETTINGS.get(i);
            String key = setting.key(), absent = setting.about().absent();
            types[i] = setting.type();
            String text = map.getOrDefault(key, absent.isEmpty() ? null : absent);
            if (text == null) {
                missing.add(key);
                continue;
            }
            values[i] = convert(key, text, types[i], where);
        }
        for (String key : map.keySet()) if (!KEYS.contains(key)) throw unknown(key, where);
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("missing settings" + where + ": " + String.join(", ", missing));
        }
        try {
            return TrainConfig.class.getDeclaredConstructor(types).newInstance(values);
        } catch (java.lang.reflect.InvocationTargetException e) {
            if (e.getCause() instanceof IllegalArgumentException iae) throw iae;
            throw new IllegalStateException(e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Converts one setting's text to its type, with a message that names the setting. */
    public static Object convert(String key, String text, Class<?> type, String where) {
        try {
            if (type == String.class) return text;
            if (type == int.class) return Integer.parseInt(text);
            if (type == long.class) return Long.parseLong(text);
            if (type == double.class) return Double.parseDouble(text);
            if (type == boolean.class) {
                if (text.equalsIgnoreCase("true")) return true;
                if (text.equalsIgnoreCase("false")) return false;
            }
            if (type.isEnum()) {
                for (Object c : type.getEnumConstants()) if (Architecture.name((Enum<?>) c).equals(text)) return c;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new IllegalArgumentException("setting " + key + where + " must be " + typeName(type) + ", got '" + text
                + "'");
    }

    /** The Java type of the named setting. */
    public static Class<?> typeOf(String key) {
        for (Declared s : SETTINGS) if (s.key().equals(key)) return s.type();
        throw unknown(key, "");
    }

    private static String typeName(Class<?> type) {
        if (type == int.class || type == long.class) return "a whole number";
        if (type == double.class) return "a number";
        if (type == boolean.class) return "true or false";
        if (type.isEnum()) {
            List<String> names = new ArrayList<>();
            for (Object c : type.getEnumConstants()) names.add(Architecture.name((Enum<?>) c));
            return "one of " + String.join(", ", names);
        }
        return "text";
    }

    private static IllegalArgumentException unknown(String key, String where) {
        return new IllegalArgumentException("unknown setting '" + key + "'" + where + "; the settings are: "
                + String.join(", ", KEYS));
    }

    /** {@code maxIters} to {@code max-iters}; {@code beta1} stays. */
    static String kebab(String camel) {
        Matcher m = CAPITAL.matcher(camel);
        return m.replaceAll("$1-$2").toLowerCase(java.util.Locale.ROOT);
    }

    /** Fails with the message, {@code String.format(message, values)} with Java's own text for each value, unless ok. */
    private static void require(boolean ok, String message, Object... values) {
        if (!ok) throw new IllegalArgumentException(String.format(java.util.Locale.ROOT, message, values));
    }
}
