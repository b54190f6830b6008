package quill.model;

import quill.io.Npy;
import quill.optim.AdamW;
import quill.optim.Muon;
import quill.optim.MuonAdamW;
import quill.optim.Optimizer;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import quill.autograd.Parameter;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Compares this model with a PyTorch reference dump (the format of {@code shared/reference/README.md}):
 * builds the model of its config.json, loads its parameters, and compares the logits, the loss, every
 * gradient, the loss before each AdamW step and every parameter after the steps.
 *
 * <p>Each comparison reports the largest absolute difference and the relative error: that difference
 * divided by the largest magnitude in the reference tensor (for a scalar, by the scalar itself).
 */
public final class ReferenceCheck {
    /** Relative tolerances: the dump's README asks for about 1e-5 (logits, loss) and 1e-4 (gradients, step losses). */
    public static final double LOGITS_TOLERANCE = 1e-5;
    public static final double LOSS_TOLERANCE = 1e-5;
    public static final double GRADIENT_TOLERANCE = 1e-4;
    public static final double STEP_LOSS_TOLERANCE = 1e-5;
    /**
     * Parameters after the AdamW steps, as gradients. The loosest case is the key third of c_attn's bias:
     * its true gradient is exactly 0 (softmax ignores a shift shared by all keys), so float32 rounding
     * noise is all there is, and Adam's m / sqrt(v) turns that noise into steps of up to lr * noise / eps.
     */
    public static final double PARAMETER_TOLERANCE = 1e-4;

    /** One compared tensor. */
    public record Row(String tensor, long[] shape, double maxAbsError, double maxRelError, double tolerance) {
        public boolean ok() {
            return maxRelError <= tolerance;   // false for NaN
        }

        /**
         * Whether the dump's README states what a float32 implementation reaches on this row: the logits, the
         * loss, the gradients and the step losses. It states nothing for the parameters after the steps, and
         * there float32 cannot promise 1e-4: where a gradient element cancels to near AdamW's eps (1e-8), Adam's
         * {@code m / (sqrt(v) + eps)} turns its rounding into a step of a different size. PyTorch's own float32
         * misses 1e-4 there on two of the seven dumps (see README, "Checking against PyTorch").
         */
        public boolean float32Tolerance() {
            return !tensor.startsWith("after ");
        }
    }

    /**
     * What a dump holds besides the tensors. {@code muon} is null for an AdamW dump; for a Muon dump it and
     * {@code muonLr} drive the block matrices, the AdamW settings the rest.
     */
    public record Dump(GptConfig model, double learningRate, double beta1, double beta2, double eps,
                       double weightDecay, double gradClip, int steps, Muon.Settings muon, double muonLr) {

        /** The dump's optimizer over {@code params}. */
        Optimizer optimizer(Map<String, Parameter> params) {
            return muon == null ? new AdamW(params, beta1, beta2, eps, weightDecay)
                    : new MuonAdamW(params, muon, muonLr, learningRate, beta1, beta2, eps, weightDecay);
        }
    }

    /** The optimizer keys of a dump's config.json ({@code name} absent or "adamw", or "muon" with the Muon keys). */
    static final List<String> OPTIMIZER_KEYS = List.of("name", "learning_rate", "beta1", "beta2", "eps", "weight_decay",
            "grad_clip", "steps", "decay_rule", "muon_params", "muon_lr", "momentum", "nesterov", "ns_steps",
            "muon_weight_decay");

    private ReferenceCheck() {
    }

    /** Reads {@code dir}/config.json; a missing file or field is an IOException naming it. */
    public static Dump readConfig(Path dir) throws IOException {
        Path file = dir.resolve("config.json");
        if (!Files.isDirectory(dir)) throw new IOException("no such folder: " + dir);
        if (!Files.isRegularFile(file)) {
            throw new IOException("missing file " + file + ": is " + dir + " a reference dump?");
        }
        JsonObject root;
        try {
            root = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
        } catch (JsonParseException | IllegalStateException e) {
            throw new IOException(file + " is not a JSON object: " + e.getMessage());
        }
        JsonObject m = object(root, "model", file), o = object(root, "optimizer", file);
        for (String key : m.keySet()) {
            if (!MODEL_KEYS.contains(key)) {
                throw new IOException(file + ": unknown model key \"" + key + "\"; the keys this Quill knows are "
                        + String.join(", ", MODEL_KEYS));
            }
        }
        GptConfig model;
        try {
            model = new GptConfig(number(m, "vocab_size", file).intValue(), number(m, "block_size", file).intValue(),
                    number(m, "n_layer", file).intValue(), number(m, "n_head", file).intValue(),
                    number(m, "n_embd", file).intValue(), number(m, "dropout", file).doubleValue(),
                    bool(m, "bias", null, file), architecture(m, file));
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage());
        }
        for (String key : o.keySet()) {
            if (!OPTIMIZER_KEYS.contains(key)) {
                throw new IOException(file + ": unknown optimizer key \"" + key + "\"; the keys this Quill knows are "
                        + String.join(", ", OPTIMIZER_KEYS));
            }
        }
        String name = o.has("name") ? o.get("name").getAsString() : "adamw";
        Muon.Settings muon = null;
        double muonLr = 0;
        if (name.equals("muon")) {
            muon = new Muon.Settings(number(o, "momentum", file).doubleValue(), bool(o, "nesterov", null, file),
                    number(o, "ns_steps", file).intValue(), number(o, "muon_weight_decay", file).doubleValue());
            muonLr = number(o, "muon_lr", file).doubleValue();
        } else if (!name.equals("adamw")) {
            throw new IOException(file + ": optimizer \"" + name + "\" is not one this Quill knows (adamw, muon)");
        }
        return new Dump(model, number(o, "learning_rate", file).doubleValue(), number(o, "beta1", file).doubleValue(),
                number(o, "beta2", file).doubleValue(), number(o, "eps", file).doubleValue(),
                number(o, "weight_decay", file).doubleValue(), number(o, "grad_clip", file).doubleValue(),
                number(o, "steps", file).intValue(), muon, muonLr);
    }

    /** The model keys of a dump's config.json: nanoGPT's, then the variant keys (its README's table). */
    static final List<String> MODEL_KEYS = List.of("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "bias",
            "dropout", "norm", "pos", "rope_base", "mlp", "mlp_hidden", "qk_norm", "tie_embeddings", "logit_softcap");

    /** The variant keys; an absent key has nanoGPT's value. */
    private static Architecture architecture(JsonObject m, Path file) throws IOException {
        Architecture d = Architecture.NANOGPT;
        Architecture.PosType pos = choice(m, "pos", Architecture.PosType.class, d.pos(), file);
        if (m.has("rope_base") && pos != Architecture.PosType.ROPE) {
            throw new IOException(file + ": \"rope_base\" is only meaningful with \"pos\": \"rope\"");
        }
        return new Architecture(
                choice(m, "norm", Architecture.NormType.class, d.norm(), file),
                pos,
                m.has("rope_base") ? number(m, "rope_base", file).doubleValue() : d.ropeBase(),
                choice(m, "mlp", Architecture.MlpType.class, d.mlp(), file),
                m.has("mlp_hidden") ? number(m, "mlp_hidden", file).intValue() : d.mlpHidden(),
                bool(m, "qk_norm", d.qkNorm(), file),
                bool(m, "tie_embeddings", d.tieEmbeddings(), file),
                m.has("logit_softcap") ? number(m, "logit_softcap", file).doubleValue() : d.logitSoftcap());
    }

    /** An enum-valued key, written in lower case; absent is {@code absent}; another value names the choices. */
    private static <E extends Enum<E>> E choice(JsonObject o, String key, Class<E> type, E absent, Path file)
            throws IOException {
        if (!o.has(key)) return absent;
        JsonElement e = o.get(key);
        String text = e.isJsonPrimitive() && e.getAsJsonPrimitive().isString() ? e.getAsString() : e.toString();
        for (E c : type.getEnumConstants()) if (Architecture.name(c).equals(text)) return c;
        List<String> names = new ArrayList<>();
        for (E c : type.getEnumConstants()) names.add(Architecture.name(c));
        throw new IOException(file + ": \"" + key + "\" is \"" + text + "\"; this Quill knows "
                + String.join(", ", names));
    }

    /** A boolean key; {@code absent} null means it must be there. */
    private static boolean bool(JsonObject o, String key, Boolean absent, Path file) throws IOException {
        if (absent != null && !o.has(key)) return absent;
        JsonElement e = field(o, key, file);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) {
            throw new IOException(file + ": \"" + key + "\" must be true or false");
        }
        return e.getAsBoolean();
    }

    /** Runs the whole comparison in the given precision (FLOAT as training does, or DOUBLE). */
    public static List<Row> run(Path dir, DataType type) throws IOException {
        Dump dump = readConfig(dir);
        Gpt gpt = Gpt.inPrecision(dump.model(), 0, type);
        Map<String, Parameter> params = gpt.parameters();
        gpt.load(dir.resolve("params"));
        gpt.setTraining(false);   // a dump is made without dropout
        int[][] x = ids(dir.resolve("x.npy"), dump.model());
        int[][] y = ids(dir.resolve("y.npy"), dump.model());
        if (x.length != y.length || x[0].length != y[0].length) {
            throw new IOException(dir.resolve("y.npy") + " must have the shape of x.npy, [" + x.length + ", "
                    + x[0].length + "]");
        }
        long b = x.length, t = x[0].length, v = dump.model().vocabSize();
        // read every expected tensor before computing, so a bad dump fails fast and names its file
        INDArray expectedLogits = Npy.read(dir.resolve("logits.npy"), b, t, v);
        INDArray expectedLoss = Npy.read(dir.resolve("loss.npy"));
        Map<String, INDArray> expectedGrads = ParameterFiles.read(params, dir.resolve("grads"), dump.model());
        INDArray expectedStepLosses = Npy.read(dir.resolve("step_losses.npy"), dump.steps());
        Map<String, INDArray> expectedAfter = ParameterFiles.read(params, dir.resolve("params_after"), dump.model());
        if (expectedLoss.length() != 1) throw new IOException(dir.resolve("loss.npy") + " must hold one number");

        List<Row> rows = new ArrayList<>();
        rows.add(compare("logits", expectedLogits, gpt.forward(x).value(), LOGITS_TOLERANCE));
        params.values().forEach(Parameter::zeroGrad);
        double loss = gpt.forwardBackward(x, y, 1.0);
        rows.add(compare("loss", expectedLoss.getDouble(0), loss, LOSS_TOLERANCE));
        for (Parameter p : params.values()) {
            rows.add(compare("grad " + p.name(), expectedGrads.get(p.name()), p.grad(), GRADIENT_TOLERANCE));
        }
        Optimizer optimizer = dump.optimizer(params);
        for (int s = 0; s < dump.steps(); s++) {
            params.values().forEach(Parameter::zeroGrad);
            double stepLoss = gpt.forwardBackward(x, y, 1.0);
            rows.add(compare("step " + (s + 1) + " loss", expectedStepLosses.getDouble(s), stepLoss,
                    STEP_LOSS_TOLERANCE));
            AdamW.clipGradNorm(params.values(), dump.gradClip());
            optimizer.step(dump.learningRate());
        }
        for (Parameter p : params.values()) {
            rows.add(compare("after " + p.name(), expectedAfter.get(p.name()), p.value(), PARAMETER_TOLERANCE));
        }
        return rows;
    }

    /** Largest |actual - expected|, and that over the largest |expected|. */
    static Row compare(String name, INDArray expected, INDArray actual, double tolerance) {
        INDArray e = expected.castTo(DataType.DOUBLE), a = actual.castTo(DataType.DOUBLE);
        double abs = a.sub(e).amaxNumber().doubleValue();
        double scale = e.amaxNumber().doubleValue();
        return new Row(name, expected.shape(), abs, scale == 0 ? abs : abs / scale, tolerance);
    }

    static Row compare(String name, double expected, double actual, double tolerance) {
        double abs = Math.abs(actual - expected);
        return new Row(name, new long[0], abs, expected == 0 ? abs : abs / Math.abs(expected), tolerance);
    }

    /** Token ids (B, T) from an integer .npy, checked against the model's vocabulary and block size. */
    private static int[][] ids(Path file, GptConfig config) throws IOException {
        INDArray a = Npy.read(file);
        if (a.rank() != 2 || a.dataType().isFPType()) {
            throw new IOException(file + " must be a 2-D integer array [B, T], got " + a.dataType() + " "
                    + java.util.Arrays.toString(a.shape()));
        }
        if (a.size(1) > config.blockSize()) {
            throw new IOException(file + " has T = " + a.size(1) + ", more than block_size " + config.blockSize());
        }
        int[][] ids = a.toIntMatrix();
        for (int[] row : ids) {
            for (int id : row) {
                if (id < 0 || id >= config.vocabSize()) {
                    throw new IOException(file + " holds token id " + id + ", outside [0, " + config.vocabSize() + ")");
                }
            }
        }
        return ids;
    }

    private static JsonObject object(JsonObject o, String key, Path file) throws IOException {
        JsonElement e = field(o, key, file);
        if (!e.isJsonObject()) throw new IOException(file + ": \"" + key + "\" must be an object");
        return e.getAsJsonObject();
    }

    private static Number number(JsonObject o, String key, Path file) throws IOException {
        JsonElement e = field(o, key, file);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
            throw new IOException(file + ": \"" + key + "\" must be a number");
        }
        return e.getAsNumber();
    }

    private static JsonElement field(JsonObject o, String key, Path file) throws IOException {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) throw new IOException(file + " has no \"" + key + "\"");
        return e;
    }
}
