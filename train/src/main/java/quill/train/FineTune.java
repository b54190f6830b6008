package quill.train;

import quill.checkpoint.Checkpoint;
import quill.data.DatasetPreparer;
import quill.data.PreparedData;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;
import quill.autograd.Parameter;
import quill.random.TorchGenerator;
import quill.model.Gpt;
import quill.model.LoraConfig;
import quill.tokenizer.CharTokenizer;
import quill.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.zip.ZipFile;

/**
 * A run that starts from another run's weights ({@code quill train --init-from RUN_OR_CKPT}): full fine-tuning,
 * or LoRA adapters on the frozen base ({@link LoraConfig}).
 *
 * <p>The new run keeps the base's model shape and architecture and its vocabulary's ids; its training settings are
 * the user's. Its checkpoints record the base ({@code init_from} in {@code checkpoint.json}: the base checkpoint's
 * absolute path and SHA-256). A LoRA run's checkpoints hold only what it trains (the adapters, and the token
 * embedding when the vocabulary was extended): loading one rebuilds the base from that file, refusing a base that is
 * missing or whose SHA-256 changed.
 *
 * @param file   the base checkpoint file
 * @param sha256 its SHA-256, hex
 * @param base   the checkpoint read from it
 */
public record FineTune(Path file, String sha256, Checkpoint base) {

    /** checkpoint.json's key for the base of a fine-tuned run. */
    public static final String KEY = "init_from";
    /** The settings that a fine-tuned run takes from its base: the model's shape and architecture. */
    private static final List<String> MODEL_KEYS = List.of("n-layer", "n-head", "n-embd", "block-size", "bias", "norm",
            "pos", "rope-base", "mlp", "mlp-hidden", "qk-norm", "tie-embeddings", "logit-softcap");

    /** The base named by the user: a run folder (its ckpt-best.zip, else ckpt-last.zip) or a checkpoint file. */
    public static FineTune open(Path runOrCheckpoint) throws IOException {
        Path file = runOrCheckpoint;
        if (Files.isDirectory(runOrCheckpoint)) {
            file = Checkpoint.bestElseLast(runOrCheckpoint);
            if (file == null) {
                throw new IOException("no checkpoint in " + runOrCheckpoint + " (neither " + Checkpoint.BEST + " nor "
                        + Checkpoint.LAST + ") to start from; --init-from takes a run folder or a checkpoint file");
            }
        }
        Checkpoint base = Checkpoint.load(file);
        if (base.quantization() != null) {
            throw new IOException("cannot start from " + file + ": it is quantised; start from the float checkpoint it"
                    + " was made from");
        }
        if (base.config().lora() != null) {
            throw new IOException("cannot start from " + file + ": it is a LoRA run's checkpoint (adapters only); fold"
                    + " them into a plain checkpoint first with 'quill merge-lora " + file + " --out FILE'");
        }
        return new FineTune(file.toAbsolutePath().normalize(), sha256(file), base);
    }

    /**
     * The new run's settings: the base's model shape and architecture, the rest from {@code user}. A model setting
     * given explicitly ({@code explicit}, the flags and the --config file) that differs from the base's is an error.
     */
    public TrainConfig settings(TrainConfig user, Map<String, String> explicit) {
        Map<String, String> saved = base.config().toMap(), wanted = user.toMap(), model = new LinkedHashMap<>();
        for (String key : MODEL_KEYS) {
            String given = explicit.get(key);
            if (given != null && !user.with(Map.of(key, given)).toMap().get(key).equals(saved.get(key))) {
                throw new IllegalArgumentException("--" + key + " " + wanted.get(key) + " contradicts the checkpoint "
                        + file + ", whose model has " + key + " " + saved.get(key) + "; a fine-tuned run keeps its"
                        + " base's model shape and architecture: drop --" + key);
            }
            model.put(key, saved.get(key));
        }
        TrainConfig c = user.with(model);
        if (c.lora() != null && c.optimizer() != TrainConfig.Optimizer.ADAMW) {
            throw new IllegalArgumentException("LoRA trains its adapters with AdamW, as PEFT does; drop --optimizer "
                    + quill.model.Architecture.name(c.optimizer()));
        }
        if (c.lora() != null) {   // a rank too large or an impossible target fails now, before the run writes anything
            new Gpt(Trainer.modelConfig(c, base.modelConfig().vocabSize()), c.seed()).addLora(c.lora(), null);
        }
        return c;
    }

    /**
     * Checks that {@code data} was encoded with the base's vocabulary: the same ids, or the same ids followed by
     * new ones ({@code --extend-vocab}). Returns how many ids were appended.
     */
    public int checkVocabulary(PreparedData data, String dataset) {
        Tokenizer ours = base.tokenizer(), theirs = data.tokenizer();
        if (ours.toJson().equals(theirs.toJson())) return 0;
        if (ours instanceof CharTokenizer && theirs instanceof CharTokenizer && theirs.vocabSize() > ours.vocabSize()) {
            int[] old = java.util.stream.IntStream.range(0, ours.vocabSize()).toArray();
            if (ours.decode(old).equals(theirs.decode(old))) {               // every old id keeps its character
                return theirs.vocabSize() - ours.vocabSize();
            }
        }
        throw new IllegalArgumentException("dataset " + dataset + " was prepared with a vocabulary of its own ("
                + theirs.vocabSize() + " ids), not the one of " + file + " (" + ours.vocabSize() + " ids): prepare it"
                + " with the base's, 'quill prepare " + dataset + " --input FILE --vocab-from " + file + "' (add"
                + " --extend-vocab for characters the base lacks)");
    }

    /**
     * {@code text} encoded with {@code base}'s vocabulary: the same tokenizer when it has every character, an extended
     * one with {@code extend}, else an error that lists the missing characters with their counts.
     */
    public static Tokenizer vocabularyFor(Tokenizer base, String text, boolean extend, Path source) {
        if (!(base instanceof CharTokenizer chars)) {
            if (extend) {
                throw new IllegalArgumentException("--extend-vocab is for character vocabularies: the base's tokenizer"
                        + " is byte-level BPE, which encodes every text (through its 256 byte tokens); drop"
                        + " --extend-vocab");
            }
            return base;
        }
        Map<Integer, Integer> missing = chars.missing(text);
        if (missing.isEmpty()) return base;
        if (!extend) {
            String list = missing.entrySet().stream().map(e -> String.format(Locale.ROOT, "%s x%,d",
                    CharTokenizer.describe(e.getKey()), e.getValue())).collect(Collectors.joining(", "));
            throw new IllegalArgumentException(String.format(Locale.ROOT, "%s has %d character%s that the base's"
                    + " vocabulary of %d lacks: %s; add --extend-vocab to append them as new ids (every old id keeps"
                    + " its meaning)", source, missing.size(), missing.size() == 1 ? "" : "s", base.vocabSize(), list));
        }
        CharTokenizer extended = chars.extend(text);
        if (extended.vocabSize() > DatasetPreparer.MAX_VOCAB_SIZE) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "--extend-vocab would make %,d symbols (the"
                    + " base's %,d and %,d new), but token files store 16-bit ids, which allow at most %,d",
                    extended.vocabSize(), base.vocabSize(), missing.size(), DatasetPreparer.MAX_VOCAB_SIZE));
        }
        return extended;
    }

    /**
     * Copies the base's weights into {@code model}, a model of the base's shape whose vocabulary may be larger: the
     * rows of the new ids in {@code wte} (and in an untied {@code lm_head}) are the mean of the base's rows. Why the
     * mean: a new character then starts as "an average character", so its first logits and its embedding sit where
     * the model already works, instead of at a random direction (or a zero row, whose logit would be 0 where the
     * trained ones are far from it); its gradient then moves it from there. (Hewitt, "Initializing new word
     * embeddings for pretrained language models", 2021, argues for the mean for this reason.)
     */
    public void initialize(Gpt model) throws IOException {
        Gpt from = base.newModel();
        for (Map.Entry<String, Parameter> e : from.parameters().entrySet()) {
            INDArray theirs = e.getValue().value(), ours = model.parameters().get(e.getKey()).value();
            long rows = theirs.size(0);
            if (ours.size(0) == rows) {
                ours.assign(theirs);
                continue;
            }
            ours.get(NDArrayIndex.interval(0, rows), NDArrayIndex.all()).assign(theirs);            // the old ids' rows
            INDArray mean = theirs.mean(true, 0);                                                   // (1, C)
            for (long r = rows; r < ours.size(0); r++) ours.getRow(r).assign(mean.reshape(ours.size(1)));
        }
    }

    /**
     * Adds the adapters of {@code lora} to {@code model} (A drawn from {@code init}; null for a model whose adapters
     * are loaded next) and freezes the rest, but for the token embedding (and an untied lm_head) when the vocabulary
     * has new ids: their rows have to learn, so they train in full, as PEFT's {@code modules_to_save}.
     */
    public static void adapt(Gpt model, LoraConfig lora, int baseVocab, TorchGenerator init) {
        model.addLora(lora, init);
        if (model.config().vocabSize() > baseVocab) {
            for (String name : List.of("transformer.wte.weight", "lm_head.weight")) {
                Parameter p = model.parameters().get(name);
                if (p != null) p.setTrainable(true);
            }
        }
    }

    /** The base of a LoRA run's checkpoint, from its {@code init_from} record, checked; null for other checkpoints. */
    public static FineTune baseOf(Checkpoint ckpt) throws IOException {
        if (ckpt.config().lora() == null) return null;
        JsonObject from;
        try (ZipFile zip = new ZipFile(ckpt.file().toFile());
             InputStream in = zip.getInputStream(zip.getEntry(Checkpoint.META))) {
            from = JsonParser.parseString(new String(in.readAllBytes(), StandardCharsets.UTF_8)).getAsJsonObject()
                    .getAsJsonObject(KEY);
        }
        if (from == null) throw new IOException(ckpt.file() + " is a LoRA checkpoint that does not name its base");
        Path file = Path.of(from.get("path").getAsString());
        String sha = from.get("sha256").getAsString();
        if (!Files.isRegularFile(file)) {
            throw new IOException("the base checkpoint of LoRA checkpoint " + ckpt.file() + " is gone: " + file
                    + " (SHA-256 " + sha.substring(0, 12) + "...) holds the frozen weights its adapters were trained"
                    + " on;"
                    + " put it back, or next time fold the adapters in with 'quill merge-lora'");
        }
        String now = sha256(file);
        if (!now.equals(sha)) {
            throw new IOException("the base checkpoint of LoRA checkpoint " + ckpt.file() + " changed: " + file
                    + " has SHA-256 " + now.substring(0, 12) + "..., but the adapters were trained on "
                    + sha.substring(0, 12) + "...; adapters only mean something on their own base (a base run that"
                    + " went on training rewrites its checkpoints: copy a base checkpoint aside before fine-tuning)");
        }
        return new FineTune(file, sha, Checkpoint.load(file));
    }

    /** A LoRA checkpoint's model: its base's weights, the adapters and whatever else it trained, in eval mode. */
    public static Gpt newModel(Checkpoint ckpt, FineTune from) throws IOException {
        Gpt model = new Gpt(ckpt.modelConfig(), ckpt.config().seed());
        from.initialize(model);
        adapt(model, ckpt.config().lora(), from.base().modelConfig().vocabSize(), null);
        ckpt.loadWeights(model);
        model.setTraining(false);
        return model;
    }

    /** {@code init_from}, as checkpoint.json records it. */
    public JsonObject toJson() {
        JsonObject json = new JsonObject();
        json.addProperty("path", file.toString());
        json.addProperty("sha256", sha256);
        return json;
    }

    static String sha256(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = in.read(buffer)) >= 0; ) md.update(buffer, 0, n);
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
