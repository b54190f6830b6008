package quill.checkpoint;

import quill.data.PreparedData;
import quill.train.FineTune;
import quill.train.TrainConfig;
import quill.train.Trainer;
import quill.train.TrainingState;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import quill.optim.AdamW;
import quill.optim.Optimizer;
import quill.io.Npy;
import quill.model.FastGpt;
import quill.model.Gpt;
import quill.model.GptHooks;
import quill.model.GptConfig;
import quill.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Enumeration;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * A saved training run, read back: one zip file ({@code ckpt-last.zip}, {@code ckpt-best.zip} in
 * the run's folder) that {@link CheckpointWriter} wrote. Its entries:
 * <ul>
 *   <li>{@code checkpoint.json}: the format version, the model's shape and architecture ({@link GptConfig}),
 *       {@code custom_norm} when the model's norms were a Java class of the user's, the
 *       {@link TrainingState} (iteration, best val loss, every random generator's state) and
 *       {@code source_sha256}, the dataset's ({@link PreparedData}: which text it trained on);</li>
 *   <li>{@code config.properties}: the run's {@link TrainConfig}, in the presets' format;</li>
 *   <li>{@code tokenizer.json}: the vocabulary ({@link Tokenizer#toJson()}), to turn ids back into text;</li>
 *   <li>{@code model/*.npy}: the weights as {@link Gpt#save} writes them (nanoGPT's names and layouts);</li>
 *   <li>a run started from another's checkpoint ({@link FineTune}) records it in {@code checkpoint.json}'s
 *       {@code init_from} (path and SHA-256); a LoRA run's {@code model/} holds only what it trains (the adapters,
 *       {@code <layer>.lora_A.weight} and {@code .lora_B.weight}), and loading it reads its base too;</li>
 *   <li>{@code optimizer/...}: AdamW's moments and step count as {@link AdamW#save} writes them (and, with
 *       Muon, its momentum buffers);</li>
 * </ul>
 * Unzip it to look inside; {@code numpy.load} reads the {@code .npy} files. A quantised checkpoint
 * ({@link QuantizedCheckpoint}, {@link #quantization()} not null) holds its matrices as integers and no optimizer
 * state.
 *
 * <p>{@link #load} reads the small entries and checks every entry's CRC; the weights are read by
 * {@link #newModel()} / {@link #loadWeights}. Every failure is an {@link IOException} whose
 * message names the file and says what is wrong with it.
 */
public record Checkpoint(Path file, TrainConfig config, GptConfig modelConfig, Tokenizer tokenizer, TrainingState state,
                         String sourceSha256, String customNorm, Quantization quantization) {

    /** A float checkpoint that does not say which text it was trained on, of a model with Quill's own norms. */
    public Checkpoint(Path file, TrainConfig config, GptConfig modelConfig, Tokenizer tokenizer, TrainingState state) {
        this(file, config, modelConfig, tokenizer, state, null, null, null);
    }

    /** The latest state of a run: what {@code --resume} continues. */
    public static final String LAST = "ckpt-last.zip";
    /** The state with the lowest val loss so far. */
    public static final String BEST = "ckpt-best.zip";

    /** 2: batches drawn as nanoGPT's (a generator state and the next batch); 1: earlier, loads but cannot resume. */
    static final int FORMAT = 2;
    public static final String META = "checkpoint.json";
    static final String CONFIG = "config.properties";
    static final String TOKENIZER = "tokenizer.json";
    static final String MODEL = "model/";
    static final String OPTIMIZER = "optimizer/";
    static final String SOURCE_SHA256 = "source_sha256";
    /** checkpoint.json's key for the class name of a custom {@link quill.model.Norm}. */
    static final String CUSTOM_NORM = "custom_norm";

    static final Gson GSON = new GsonBuilder().serializeSpecialFloatingPointValues().setPrettyPrinting().create();

    public static Path last(Path outDir) {
        return outDir.resolve(LAST);
    }

    public static Path best(Path outDir) {
        return outDir.resolve(BEST);
    }

    /** A run folder's checkpoint to use: ckpt-best.zip, else ckpt-last.zip; null when it has neither. */
    public static Path bestElseLast(Path outDir) {
        if (Files.isRegularFile(best(outDir))) return best(outDir);
        return Files.isRegularFile(last(outDir)) ? last(outDir) : null;
    }

    /** Reads a checkpoint's settings, vocabulary and state, and checks that its weights are there. */
    public static Checkpoint load(Path file) throws IOException {
        try (ZipFile zip = open(file)) {
            JsonObject meta = JsonParser.parseString(text(zip, file, META)).getAsJsonObject();
            int format = meta.get("format").getAsInt();
            if (format != FORMAT && format != 1) {
                throw new IOException(file + " is a checkpoint of format " + format + "; this Quill reads format "
                        + FORMAT);
            }
            GptConfig model = modelConfig(meta.get("model"), file);
            TrainingState state = GSON.fromJson(meta.get("state"), TrainingState.class);
            TrainConfig config = TrainConfig.parseProperties(text(zip, file, CONFIG), file + "!" + CONFIG);
            String tokenizerJson = text(zip, file, TOKENIZER);
            Tokenizer tokenizer = Tokenizer.fromJson(JsonParser.parseString(tokenizerJson).getAsJsonObject());
            Quantization quantization = meta.has(QuantizedCheckpoint.KEY)
                    ? Quantization.fromJson(meta.getAsJsonObject(QuantizedCheckpoint.KEY)) : null;
            if (!hasEntries(zip, MODEL)) throw incomplete(file, "it holds no model weights (" + MODEL + ")");
            if (quantization == null && !hasEntries(zip, OPTIMIZER)) throw incomplete(file,
                    "it holds no optimizer state (" + OPTIMIZER + ")");
            if (model == null || state == null) throw incomplete(file, META + " lacks 'model' or 'state'");
            verify(zip, file);
            JsonElement sha = meta.get(SOURCE_SHA256);
            String sourceSha256 = sha == null || sha.isJsonNull() ? null : sha.getAsString();
            String customNorm = meta.has(CUSTOM_NORM) ? meta.get(CUSTOM_NORM).getAsString() : null;
            return new Checkpoint(file, config, model, tokenizer, state, sourceSha256, customNorm, quantization);
        } catch (IOException e) {
            throw e;
        } catch (RuntimeException e) { // malformed JSON or settings, a field of the wrong kind
            throw new IOException(file + " is corrupt or not a Quill checkpoint: " + e.getMessage(), e);
        }
    }

    /**
     * A new model of this checkpoint's shape and architecture with its weights, in eval mode. A model whose
     * norms were a Java class of the user's cannot be rebuilt from the file: build it in Java with that class
     * and {@link #loadWeights} into it.
     */
    public Gpt newModel() throws IOException {
        FineTune base = FineTune.baseOf(this);
        if (base != null) return FineTune.newModel(this, base);   // a LoRA run's: its base, then the adapters
        if (customNorm != null) {
            throw new IOException(file + " holds a model with a custom norm (" + customNorm + ") that a checkpoint"
                    + " cannot describe; in Java, build it with Gpt.withNorm(config, seed, " + simpleName(customNorm)
                    + "::new) and call Checkpoint.loadWeights(model)");
        }
        Gpt model = Gpt.forLoading(modelConfig, config.seed());
        loadWeights(model);
        model.setTraining(false);
        return model;
    }

    /**
     * The model for generation as {@link FastGpt}, read without ND4J, when it is of the kind FastGpt runs and the
     * checkpoint is not a LoRA run's nor has a custom norm (a quantised one is dequantised, as {@link #newModel}
     * does); else null, and {@link #newModel} is the way. Also null when a weight entry is not as expected: newModel
     * then says what is wrong with it.
     */
    public FastGpt fastModel() {
        if (customNorm != null || config.lora() != null || !FastGpt.supports(modelConfig)) return null;
        Map<String, long[]> shapes = FastGpt.shapes(modelConfig);
        try (ZipFile zip = open(file)) {
            Enumeration<? extends ZipEntry> entries = zip.entries();
            while (entries.hasMoreElements()) {                   // an entry of another model's: newModel names it
                String name = entries.nextElement().getName();
                if (name.startsWith(MODEL) && !name.equals(MODEL)
                        && !shapes.containsKey(name.substring(MODEL.length()).replaceFirst("\\.npy$", ""))) {
                    return null;
                }
            }
            // one weight at a time, each copied into native memory as it is read: the Java heap holds one at most
            return FastGpt.load(modelConfig, name -> {
                try {
                    return weight(zip, name, shapes.get(name));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** One weight for {@link #fastModel}: dequantised when the checkpoint is quantised and it is a matrix. */
    private float[] weight(ZipFile zip, String name, long[] shape) throws IOException {
        if (quantization != null && shape.length == 2) {              // every matrix is quantised
            return QuantizedCheckpoint.dequantized(zip, file, quantization, name, (int) shape[0], (int) shape[1]);
        }
        ZipEntry e = zip.getEntry(MODEL + name + ".npy");
        if (e == null) throw new IOException("no entry " + MODEL + name + ".npy");
        try (InputStream in = zip.getInputStream(e)) {
            return Npy.readFloats(in.readAllBytes(), file + "!" + e.getName(), shape);
        }
    }

    /**
     * Copies the weights into {@code model}, which must have this checkpoint's shape, architecture and norm
     * class: weights of another architecture can have the same names and shapes (LayerNorm without bias and
     * RMSNorm do), so that is checked, not left to the parameter files.
     */
    public void loadWeights(Gpt model) throws IOException {
        String built = GptHooks.customNormName(model), saved = customNorm;
        if (!model.config().arch().equals(modelConfig.arch()) || !java.util.Objects.equals(built, saved)) {
            throw new IOException("cannot load " + file + " into this model: the checkpoint is "
                    + Trainer.describe(modelConfig.arch()) + (saved == null ? "" : " with norm " + saved)
                    + ", the model " + Trainer.describe(model.config().arch())
                    + (built == null ? "" : " with norm " + built));
        }
        if (model.lora() != null) {   // a LoRA run's checkpoint holds what it trained, the base the rest
            extractAndLoad(MODEL, dir -> GptHooks.loadTrainable(model, dir));
            return;
        }
        if (quantization == null) {
            extractAndLoad(MODEL, model::load);
            return;
        }
        // quantised: the float entries and the dequantised matrices, side by side in a temporary folder
        Path temp = Files.createTempDirectory("quill-dequantized");
        try (ZipFile zip = open(file)) {
            extractAndLoad(MODEL, dir -> {
                try (Stream<Path> files = Files.list(dir)) {
                    for (Path f : files.toList()) Files.copy(f, temp.resolve(f.getFileName().toString()));
                }
            });
            QuantizedCheckpoint.dequantize(zip, file, quantization, model.parameters(), temp);
            model.load(temp);
        } finally {
            deleteTree(temp);
        }
    }

    private static String simpleName(String className) {
        return className.substring(Math.max(className.lastIndexOf('.'), className.lastIndexOf('$')) + 1);
    }

    /** Restores AdamW's moments and step count into {@code optimizer} (made over a model of this shape). */
    public void loadOptimizer(Optimizer optimizer) throws IOException {
        if (quantization != null) throw new IOException(file + " is quantised and holds no optimizer state");
        extractAndLoad(OPTIMIZER, dir -> optimizer.load(dir));
    }

    private interface DirLoader {
        void load(Path dir) throws IOException;
    }

    /**
     * Hands the loader the zip's folder {@code prefix} as a path inside the zip (a zip file system): no temporary
     * copy, so none is left behind by a kill, and errors name the zip and the entry.
     */
    private void extractAndLoad(String prefix, DirLoader loader) throws IOException {
        open(file).close(); // a missing or broken file fails as in load()
        try (FileSystem zip = FileSystems.newFileSystem(file)) {
            loader.load(zip.getPath("/" + prefix));
        } catch (IOException | RuntimeException e) {
            throw incomplete(file, e.getMessage() != null ? e.getMessage().replace(" /" + prefix, " " + prefix)
                    : e.getClass().getSimpleName());
        }
    }

    /** The model's shape, whose constructor checks it: a bad value is named, not a reflection failure. */
    private static GptConfig modelConfig(JsonElement json, Path file) throws IOException {
        try {
            return GSON.fromJson(json, GptConfig.class);
        } catch (RuntimeException e) {
            Throwable cause = e;
            while (cause.getCause() != null && !(cause instanceof IllegalArgumentException)) cause = cause.getCause();
            throw incomplete(file, META + "'s model: " + cause.getMessage());
        }
    }

    private static ZipFile open(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IOException("no checkpoint at " + file + "; 'quill train' writes one into its --out-dir");
        }
        try {
            return new ZipFile(file.toFile());
        } catch (ZipException e) {
            throw incomplete(file, "it is not a whole zip file (" + e.getMessage() + "), perhaps a partial copy");
        }
    }

    private static String text(ZipFile zip, Path file, String name) throws IOException {
        ZipEntry e = zip.getEntry(name);
        if (e == null) throw incomplete(file, "it lacks " + name);
        try (InputStream in = zip.getInputStream(e)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (ZipException z) {
            throw incomplete(file, "entry " + name + " is damaged (" + z.getMessage() + ")");
        }
    }

    /**
     * Reads every entry through and compares its CRC-32 with the one the zip recorded ({@link ZipFile}
     * does not), so that a damaged byte anywhere fails now, not in the middle of a run.
     */
    private static void verify(ZipFile zip, Path file) throws IOException {
        byte[] buffer = new byte[1 << 16];
        Enumeration<? extends ZipEntry> entries = zip.entries();
        while (entries.hasMoreElements()) {
            ZipEntry e = entries.nextElement();
            CRC32 crc = new CRC32();
            try (InputStream in = zip.getInputStream(e)) {
                for (int n; (n = in.read(buffer)) >= 0; ) crc.update(buffer, 0, n);
            } catch (ZipException z) {
                throw incomplete(file, "entry " + e.getName() + " is damaged (" + z.getMessage() + ")");
            }
            if (e.getCrc() != -1 && crc.getValue() != e.getCrc()) {
                throw incomplete(file, "entry " + e.getName() + " is damaged (its CRC-32 does not match)");
            }
        }
    }

    private static boolean hasEntries(ZipFile zip, String prefix) {
        return zip.stream().anyMatch(e -> !e.isDirectory() && e.getName().startsWith(prefix));
    }

    private static IOException incomplete(Path file, String why) {
        return new IOException("checkpoint " + file + " is incomplete or corrupt: " + why);
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
