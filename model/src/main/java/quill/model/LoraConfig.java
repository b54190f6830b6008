package quill.model;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The settings of LoRA adapters ({@link Lora}): their rank, their scale {@code alpha / rank}, the dropout on their
 * input, and which Linear layers get one.
 *
 * <p>Targets are named as in nanoGPT's state dict, without {@code .weight}, and match as PEFT's
 * {@code target_modules} do: a target matches every layer whose name is it or ends with {@code "." + target}. So
 * {@code c_attn} is every block's {@code attn.c_attn}, {@code c_proj} is both projections into the residual
 * stream ({@code attn.c_proj} and {@code mlp.c_proj}), and {@code attn.c_proj} only attention's.
 *
 * @param rank    R, the inner width of B A; at least 1 and at most the smaller side of every target
 * @param alpha   the adapter's output is scaled by alpha / R (Hu et al. 2021, section 4.1): with alpha fixed, a
 *                different rank does not need another learning rate
 * @param dropout probability of zeroing the adapter's input while training (PEFT's {@code lora_dropout})
 * @param targets the layers that get an adapter, as above
 */
public record LoraConfig(int rank, double alpha, double dropout, List<String> targets) {

    /** Every kind of layer that can take an adapter, by the end of its name. */
    public static final List<String> LAYERS =
            List.of("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj", "lm_head");

    public LoraConfig {
        if (rank < 1) throw new IllegalArgumentException("lora-rank must be at least 1, got " + rank);
        if (!(alpha > 0) || !Double.isFinite(alpha)) {
            throw new IllegalArgumentException("lora-alpha must be positive, got " + alpha);
        }
        if (!(dropout >= 0 && dropout < 1)) {
            throw new IllegalArgumentException("lora-dropout must be in [0, 1), got " + dropout);
        }
        if (targets.isEmpty()) throw new IllegalArgumentException("lora-targets names no layer");
        for (String t : targets) {
            if (LAYERS.stream().noneMatch(layer -> matches(t, layer))) {
                throw new IllegalArgumentException("unknown lora target '" + t + "': the layers that take an"
                        + " adapter are " + String.join(", ", LAYERS)
                        + " (a name may be shortened to its end: c_attn, c_proj, c_fc)");
            }
        }
        targets = List.copyOf(targets);
    }

    /** The targets from a comma-separated list ({@code "c_attn,c_proj"}). */
    public static List<String> parseTargets(String list) {
        List<String> targets = new ArrayList<>();
        for (String t : list.split(",")) {
            if (!t.isBlank()) targets.add(t.strip().toLowerCase(Locale.ROOT));
        }
        return targets;
    }

    /** alpha / R, the factor on B A. */
    public double scale() {
        return alpha / rank;
    }

    /** Whether the layer named {@code layer} ({@code transformer.h.0.attn.c_attn}, {@code lm_head}) gets an adapter. */
    public boolean targets(String layer) {
        return targets.stream().anyMatch(t -> matches(t, layer));
    }

    private static boolean matches(String target, String layer) {
        return layer.equals(target) || layer.endsWith("." + target);
    }
}
