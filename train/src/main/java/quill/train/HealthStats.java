package quill.train;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import quill.kernels.Elements;
import quill.autograd.Parameter;
import quill.autograd.TapeWatch;
import quill.autograd.Tensor;
import quill.model.Gpt;
import quill.runtime.StepMemory;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What one training step looks like inside, the pictures of Karpathy's makemore lessons for a GPT: recorded every
 * {@code health-interval} steps into {@code metrics.jsonl} and drawn by {@code quill report}.
 *
 * <ul>
 *   <li>Per parameter group, named as nanoGPT's state dict without {@code .weight} / {@code .bias}
 *       ({@code transformer.h.0.attn.c_attn}): the weight's root mean square before the step, the gradient's
 *       before clipping, and log10 of the update-to-weight ratio rms(w_after - w_before) / rms(w_before), whatever
 *       the optimizer (AdamW, Muon). Near -3 is the rule of thumb (Karpathy, makemore part 3); far above, the
 *       learning rate is too high for that layer; far below, it barely learns.</li>
 *   <li>Per block, the activations of the first micro-batch (the rows worker 0 runs), seen through
 *       {@link TapeWatch}: the attention's output (the heads' weighted sums of the values, c_proj's input) and the
 *       MLP's nonlinearity's output, their mean and standard deviation, and the share of inactive ones.
 *       For the MLP a (token, unit) is <em>dead</em> where its nonlinearity passes almost nothing and almost no
 *       gradient: ReLU² where its input is at most 0 (exactly zero), GELU below -3 and SwiGLU where the gate is
 *       below -6 (there the slope of GELU and of SiLU is about 0.012). For attention a query is <em>saturated</em>
 *       when its softmax puts more than 0.99 on one key: softmax's gradient then nearly vanishes (the first
 *       position, which sees only itself, is not counted).</li>
 *   <li>Per block and head, the mean entropy of the attention weights in nats, over the rows and query positions:
 *       0 attends to one key; a query at position t attending evenly has ln(t + 1). Read from the weights the
 *       model keeps for {@code quill attention} ({@link Gpt#attention}).</li>
 * </ul>
 *
 * It only reads: a step with health statistics computes the same numbers as one without.
 */
public final class HealthStats implements TapeWatch.Listener {
    /** Below these, GELU's and SiLU's slopes are about 0.012: the unit is dead for this token. */
    static final double GELU_DEAD = -3, SILU_DEAD = -6;
    /** A softmax row with a weight above this is saturated. */
    static final double SATURATED = 0.99;

    private final Map<String, JsonObject> activations = new LinkedHashMap<>();
    private final Map<String, JsonObject> groups = new LinkedHashMap<>();
    private final Map<String, double[]> sums = new LinkedHashMap<>();     // group: weight ss, grad ss, update ss, count
    private final JsonObject entropy = new JsonObject();
    private INDArray[] before;

    /** Starts looking at the ops this thread runs (worker 0's share of the first micro-batch). */
    void watchForward() {
        TapeWatch.start(this, Thread.currentThread());
    }

    void stopWatching() {
        TapeWatch.stop();
    }

    @Override
    public void forward(String module, Tensor out, Tensor[] inputs) {
        String op = out.opName();
        if (activations.containsKey(module)) return;
        switch (op) {
            case "attention" -> activations.put(module, moments("attention", out.value()));
            case "gelu" -> activations.put(module, dead(op, out.value(), inputs[0].value(), GELU_DEAD, 1));
            case "reluSquared" -> activations.put(module, dead("relu2", out.value(), inputs[0].value(), 0, 1));
            case "swiglu" -> activations.put(module, dead(op, out.value(), inputs[0].value(), SILU_DEAD, 2));
            default -> { }
        }
    }

    /** Before clipping and the update: the gradients as the batch made them, and a copy of the weights. */
    void beforeUpdate(List<Parameter> params) {
        before = new INDArray[params.size()];
        try (MemoryWorkspace ignored = StepMemory.outside()) {
            for (int i = 0; i < params.size(); i++) {
                Parameter p = params.get(i);
                before[i] = p.value().dup('c');
                double[] s = sums.computeIfAbsent(group(p.name()), k -> new double[4]);
                s[1] += sumOfSquares(p.grad(), null);
            }
        }
    }

    /** After the update: the weights now, the update, and the attention weights of the step's last forward pass. */
    void afterUpdate(List<Parameter> params, Gpt model) {
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            double[] s = sums.get(group(p.name()));
            s[0] += sumOfSquares(before[i], null);
            s[2] += sumOfSquares(p.value(), before[i]);
            s[3] += p.value().length();
        }
        before = null;
        sums.forEach((name, s) -> {
            JsonObject g = new JsonObject();
            double n = s[3];
            put(g, "weight_rms", Math.sqrt(s[0] / n));
            put(g, "grad_rms", Math.sqrt(s[1] / n));
            put(g, "log10_update_ratio", 0.5 * Math.log10(s[2] / s[0]));  // log10(rms(update) / rms(w))
            groups.put(name, g);
        });
        for (int layer = 0; layer < model.config().nLayer(); layer++) attention(layer, model.attention(layer));
    }

    /** The line for {@code metrics.jsonl}: {"iter", "health": {"params", "activations", "attention_entropy"}}. */
    public JsonObject toJson(int iter) {
        JsonObject h = new JsonObject();
        JsonObject p = new JsonObject();
        groups.forEach(p::add);
        h.add("params", p);
        JsonObject a = new JsonObject();
        activations.forEach(a::add);
        h.add("activations", a);
        h.add("attention_entropy", entropy);
        JsonObject line = new JsonObject();
        line.addProperty("iter", iter);
        line.add("health", h);
        return line;
    }

    /** A parameter's group: its state-dict name without {@code .weight} or {@code .bias}; other names (LoRA's) stay. */
    static String group(String name) {
        if (name.endsWith(".weight")) return name.substring(0, name.length() - ".weight".length());
        if (name.endsWith(".bias")) return name.substring(0, name.length() - ".bias".length());
        return name;
    }

    /** Entropy per head, and the share of saturated queries, of one block's attention weights (B, nh, T, T). */
    private void attention(int layer, INDArray att) {
        int b = (int) att.size(0), nh = (int) att.size(1), t = (int) att.size(2);
        Elements w = new Elements(Elements.contiguousCopy(att));
        double[] row = new double[t];
        JsonArray heads = new JsonArray();
        long saturated = 0;
        for (int h = 0; h < nh; h++) {
            double total = 0;
            for (int r = 0; r < b; r++) {
                for (int q = 0; q < t; q++) {
                    w.get(((r * nh + h) * t + q) * t, row, q + 1);   // the keys this query may see
                    double e = 0, max = 0;
                    for (int k = 0; k <= q; k++) {
                        if (row[k] > 0) e -= row[k] * Math.log(row[k]);
                        max = Math.max(max, row[k]);
                    }
                    total += e;
                    if (q > 0 && max > SATURATED) saturated++;
                }
            }
            heads.add(round(total / ((double) b * t)));
        }
        String module = "transformer.h." + layer + ".attn";
        entropy.add(module, heads);
        JsonObject a = activations.get(module);
        if (a != null && t > 1) put(a, "saturated", (double) saturated / ((long) b * nh * (t - 1)));
    }

    /** Mean and standard deviation of an activation. */
    private static JsonObject moments(String kind, INDArray a) {
        JsonObject o = new JsonObject();
        o.addProperty("kind", kind);
        Elements e = new Elements(Elements.contiguousCopy(a));
        double[] block = new double[Elements.BLOCK];
        double sum = 0, ss = 0;
        for (int from = 0; from < e.length(); from += Elements.BLOCK) {
            int n = Math.min(Elements.BLOCK, e.length() - from);
            e.get(from, block, n);
            for (int k = 0; k < n; k++) {
                sum += block[k];
                ss += block[k] * block[k];
            }
        }
        double mean = sum / e.length();
        put(o, "mean", mean);
        put(o, "std", Math.sqrt(Math.max(0, ss / e.length() - mean * mean)));
        return o;
    }

    /**
     * The moments of an MLP's output and its share of dead units: inputs at or below {@code threshold}
     * (strictly below unless it is 0). {@code parts} 2: the input is SwiGLU's gate and value, the gate first.
     */
    private static JsonObject dead(String kind, INDArray out, INDArray in, double threshold, int parts) {
        JsonObject o = moments(kind, out);
        INDArray x = Elements.contiguousCopy(in);
        int width = (int) x.size(x.rank() - 1), units = width / parts;
        Elements e = new Elements(x);
        double[] row = new double[width];
        long dead = 0, rows = e.length() / width;
        for (int r = 0; r < rows; r++) {
            e.get(r * width, row, width);
            for (int j = 0; j < units; j++) {
                if (threshold == 0 ? row[j] <= 0 : row[j] < threshold) dead++;
            }
        }
        put(o, "dead", (double) dead / (rows * units));
        return o;
    }

    /** Sum of squares of {@code a}, or of {@code a - minus}. */
    private static double sumOfSquares(INDArray a, INDArray minus) {
        Elements e = new Elements(Elements.contiguousCopy(a));
        Elements m = minus == null ? null : new Elements(Elements.contiguousCopy(minus));
        double[] block = new double[Elements.BLOCK], other = new double[Elements.BLOCK];
        double ss = 0;
        for (int from = 0; from < e.length(); from += Elements.BLOCK) {
            int n = Math.min(Elements.BLOCK, e.length() - from);
            e.get(from, block, n);
            if (m != null) m.get(from, other, n);
            for (int k = 0; k < n; k++) {
                double v = m == null ? block[k] : block[k] - other[k];
                ss += v * v;
            }
        }
        return ss;
    }

    /** JSON has no NaN or infinity: such a value (a frozen weight's update ratio, say) is left out. */
    private static void put(JsonObject o, String key, double v) {
        if (Double.isFinite(v)) o.addProperty(key, round(v));
    }

    private static double round(double v) {
        return Double.parseDouble(String.format(java.util.Locale.ROOT, "%.5g", v));
    }
}
