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
 * <p>The presets in {@code presets/} list them all with a comment on each. The architecture switches
 * ({@code norm} to {@code logit-softcap}, see {@link Architecture}) may be left out of a file: they then have
 * nanoGPT's values, as in a run saved before they existed.
 */
public record TrainConfig(
        String dataset,
        String outDir,
        int evalInterval,
        int logInterval,
        int healthInterval,
        int evalIters,
        boolean alwaysSaveCheckpoint,
        double targetValLoss,
        int gradientAccumulationSteps,
        int batchSize,
        int blockSize,
        int nLayer,
        int nHead,
        int nEmbd,
        double dropout,
        boolean bias,
        Architecture.NormType norm,
        Architecture.PosType pos,
        double ropeBase,
        Architecture.MlpType mlp,
        int mlpHidden,
        boolean qkNorm,
        boolean tieEmbeddings,
        double logitSoftcap,
        Optimizer optimizer,
        double muonLr,
        double muonMomentum,
        boolean muonNesterov,
        int muonNsSteps,
        double muonWeightDecay,
        double learningRate,
        int maxIters,
        double weightDecay,
        double beta1,
        double beta2,
        double gradClip,
        boolean decayLr,
        int warmupIters,
        int lrDecayIters,
        double minLr,
        long seed,
        int loraRank,
        double loraAlpha,
        double loraDropout,
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

    /** The settings' kebab-case names, in declaration order. */
    public static final List<String> KEYS = Arrays.stream(TrainConfig.class.getRecordComponents())
            .map(c -> kebab(c.getName())).toList();

    /**
     * The settings added after the first presets, with nanoGPT's values (the architecture switches), AdamW's
     * (the optimizer) or off ({@code target-val-loss}): what a file that leaves one out means.
     */
    private static final Map<String, String> OPTIONAL_DEFAULTS = Map.ofEntries(
            Map.entry("norm", "layernorm"), Map.entry("pos", "learned"), Map.entry("rope-base", "10000.0"),
            Map.entry("mlp", "gelu"), Map.entry("mlp-hidden", "0"), Map.entry("qk-norm", "false"),
            Map.entry("tie-embeddings", "true"), Map.entry("logit-softcap", "0.0"), Map.entry("optimizer", "adamw"),
            Map.entry("muon-lr", "0.02"), Map.entry("muon-momentum", "0.95"), Map.entry("muon-nesterov", "true"),
            Map.entry("muon-ns-steps", "5"), Map.entry("muon-weight-decay", "0.0"), Map.entry("health-interval", "0"),
            Map.entry("lora-rank", "0"), Map.entry("lora-alpha", "8.0"), Map.entry("lora-dropout", "0.0"),
            Map.entry("lora-targets", "c_attn"), Map.entry("target-val-loss", "0.0"));

    /** Which optimizer trains the model: AdamW for every weight, or Muon for the block matrices and AdamW for the rest. */
    public enum Optimizer { ADAMW, MUON }

    public TrainConfig {
        require(!dataset.isBlank(), "dataset must not be empty");
        require(!outDir.isBlank(), "out-dir must not be empty");
        require(evalInterval >= 1, "eval-interval must be at least 1, got " + evalInterval);
        require(logInterval >= 1, "log-interval must be at least 1, got " + logInterval);
        require(healthInterval >= 0, "health-interval must not be negative (0 turns it off), got " + healthInterval);
        require(evalIters >= 1, "eval-iters must be at least 1, got " + evalIters);
        require(targetValLoss >= 0 && Double.isFinite(targetValLoss),
                "target-val-loss must be a loss above 0 (0 turns it off), got " + targetValLoss);
        require(gradientAccumulationSteps >= 1,
                "gradient-accumulation-steps must be at least 1, got " + gradientAccumulationSteps);
        require(batchSize >= 1, "batch-size must be at least 1, got " + batchSize);
        require(blockSize >= 1, "block-size must be at least 1, got " + blockSize);
        require(nLayer >= 1, "n-layer must be at least 1, got " + nLayer);
        require(nHead >= 1, "n-head must be at least 1, got " + nHead);
        require(nEmbd >= 1 && nEmbd % nHead == 0,
                "n-embd (" + nEmbd + ") must be a positive multiple of n-head (" + nHead + ")");
        require(dropout >= 0 && dropout < 1, "dropout must be in [0, 1), got " + dropout);
        require(learningRate > 0 && Double.isFinite(learningRate), "learning-rate must be positive, got " + learningRate);
        require(maxIters >= 0, "max-iters must not be negative, got " + maxIters);
        require(weightDecay >= 0, "weight-decay must not be negative, got " + weightDecay);
        require(beta1 >= 0 && beta1 < 1, "beta1 must be in [0, 1), got " + beta1);
        require(beta2 >= 0 && beta2 < 1, "beta2 must be in [0, 1), got " + beta2);
        require(gradClip >= 0, "grad-clip must not be negative (0 turns clipping off), got " + gradClip);
        require(warmupIters >= 0, "warmup-iters must not be negative, got " + warmupIters);
        require(!decayLr || lrDecayIters > warmupIters,
                "lr-decay-iters (" + lrDecayIters + ") must be greater than warmup-iters (" + warmupIters + ")");
        require(minLr >= 0 && minLr <= learningRate,
                "min-lr must be between 0 and learning-rate (" + learningRate + "), got " + minLr);
        // checks the switches' values (the fields are assigned only after this constructor's body)
        new Architecture(norm, pos, ropeBase, mlp, mlpHidden, qkNorm, tieEmbeddings, logitSoftcap);
        require(muonLr > 0 && Double.isFinite(muonLr), "muon-lr must be positive, got " + muonLr);
        new quill.model.Muon.Settings(muonMomentum, muonNesterov, muonNsSteps, muonWeightDecay).check();
        require(loraRank >= 0, "lora-rank must not be negative (0 trains every weight), got " + loraRank);
        new quill.model.LoraConfig(Math.max(1, loraRank), loraAlpha, loraDropout,
                quill.model.LoraConfig.parseTargets(loraTargets));   // checks the LoRA settings' values
    }

    /** The LoRA adapters these settings ask for (PEFT's defaults: alpha 8, no dropout, c_attn), or null (rank 0). */
    public quill.model.LoraConfig lora() {
        return loraRank == 0 ? null : new quill.model.LoraConfig(loraRank, loraAlpha, loraDropout,
                quill.model.LoraConfig.parseTargets(loraTargets));
    }

    /** The optimizer these settings ask for, over {@code params}; AdamW's epsilon is PyTorch's default. */
    public quill.model.Optimizer newOptimizer(Map<String, quill.autograd.Parameter> params) {
        double eps = Trainer.ADAM_EPS;
        return optimizer == Optimizer.ADAMW ? new quill.model.AdamW(params, beta1, beta2, eps, weightDecay)
                : new quill.model.MuonAdamW(params, new quill.model.Muon.Settings(muonMomentum, muonNesterov, muonNsSteps,
                        muonWeightDecay), muonLr, learningRate, beta1, beta2, eps, weightDecay);
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
            return fromMap(parse(new String(in.readAllBytes(), StandardCharsets.UTF_8), "preset " + name), " in preset " + name);
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
            if (end > 0 && value.substring(end + 1).matches("\\s*(#.*)?")) return value.substring(1, end);
        }
        return value.replaceFirst("\\s+#.*$", "");
    }

    private static TrainConfig fromMap(Map<String, String> map, String where) {
        RecordComponent[] components = TrainConfig.class.getRecordComponents();
        Object[] values = new Object[components.length];
        Class<?>[] types = new Class<?>[components.length];
        List<String> missing = new ArrayList<>();
        for (int i = 0; i < components.length; i++) {
            String key = kebab(components[i].getName());
            types[i] = components[i].getType();
            String text = map.getOrDefault(key, OPTIONAL_DEFAULTS.get(key));
            if (text == null) {
                missing.add(key);
                continue;
            }
            values[i] = convert(key, text, types[i], where);
        }
        for (String key : map.keySet()) if (!KEYS.contains(key)) throw unknown(key, where);
        if (!missing.isEmpty()) throw new IllegalArgumentException("missing settings" + where + ": " + String.join(", ", missing));
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
        throw new IllegalArgumentException("setting " + key + where + " must be " + typeName(type) + ", got '" + text + "'");
    }

    /** The Java type of the named setting. */
    public static Class<?> typeOf(String key) {
        for (RecordComponent c : TrainConfig.class.getRecordComponents()) {
            if (kebab(c.getName()).equals(key)) return c.getType();
        }
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

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException(message);
    }
}
