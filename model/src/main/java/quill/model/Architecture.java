package quill.model;

import com.google.gson.annotations.SerializedName;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The architecture switches of a {@link Gpt}: nanoGPT's choices by default ({@link #NANOGPT}), or the
 * ones the LLaMA and modded-nanogpt family made popular. Their exact meaning is the PyTorch reference's
 * ({@code shared/reference/README.md}), and {@code quill check-reference} proves each against it.
 *
 * @param norm          every norm ({@code ln_1}, {@code ln_2}, {@code ln_f}): LayerNorm, or RMSNorm (Zhang &amp;
 *                      Sennrich 2019, no mean subtraction and no bias)
 * @param pos           how the model knows where a token is: a learned table {@code wpe} (GPT-2), rotary
 *                      embeddings of q and k (RoPE, Su et al. 2021), or nothing at all (the causal mask alone)
 * @param ropeBase      RoPE's base: head-dimension pair i turns by {@code pos * ropeBase^(-2i/hs)} radians
 * @param mlp           the MLP's nonlinearity: GELU (GPT-2), ReLU squared (So et al. 2021, modded-nanogpt), or
 *                      SwiGLU (Shazeer 2020, LLaMA), whose {@code c_fc} makes a gate and a value
 * @param mlpHidden     the MLP's hidden width; 0 means nanoGPT's {@code 4 * nEmbd}
 * @param qkNorm        normalise q and k of every head (RMS, no weight) before the scores (Henry et al. 2020):
 *                      the scores stay bounded, which lets higher learning rates train
 * @param tieEmbeddings {@code lm_head} shares the token embedding's weight (GPT-2, Press &amp; Wolf 2017), or has
 *                      its own
 * @param logitSoftcap  0 for off, else logits become {@code c * tanh(logits / c)} (Gemma 2): no logit can run away
 */
public record Architecture(NormType norm, PosType pos, double ropeBase, MlpType mlp, int mlpHidden, boolean qkNorm,
                           boolean tieEmbeddings, double logitSoftcap) {

    /** nanoGPT's model: LayerNorm, learned positions, GELU MLP of 4C, no QK-norm, tied embeddings, no soft-cap. */
    public static final Architecture NANOGPT =
            new Architecture(NormType.LAYERNORM, PosType.LEARNED, 10000, MlpType.GELU, 0, false, true, 0);

    public enum NormType {
        @SerializedName("layernorm") LAYERNORM,
        @SerializedName("rmsnorm") RMSNORM
    }

    public enum PosType {
        @SerializedName("learned") LEARNED,
        @SerializedName("rope") ROPE,
        @SerializedName("none") NONE
    }

    public enum MlpType {
        @SerializedName("gelu") GELU,
        @SerializedName("relu2") RELU2,
        @SerializedName("swiglu") SWIGLU
    }

    public Architecture {
        if (norm == null || pos == null || mlp == null) {
            throw new IllegalArgumentException("norm, pos and mlp must be given");
        }
        if (!(ropeBase > 1) || Double.isInfinite(ropeBase)) {
            throw new IllegalArgumentException("rope-base must be above 1, got " + ropeBase);
        }
        if (mlpHidden < 0) {
            throw new IllegalArgumentException("mlp-hidden must be positive (or 0 for 4 * n-embd), got " + mlpHidden);
        }
        if (!(logitSoftcap >= 0) || Double.isInfinite(logitSoftcap)) {
            throw new IllegalArgumentException("logit-softcap must be 0 (off) or positive, got " + logitSoftcap);
        }
    }

    /** The settings in which this differs from nanoGPT's, as {@code name=value} in settings' names ("norm=rmsnorm"). */
    public Map<String, String> differences() {
        Map<String, String> d = new LinkedHashMap<>();
        if (norm != NANOGPT.norm) d.put("norm", name(norm));
        if (pos != NANOGPT.pos) d.put("pos", name(pos));
        if (pos == PosType.ROPE && ropeBase != NANOGPT.ropeBase) d.put("rope-base", String.valueOf(ropeBase));
        if (mlp != NANOGPT.mlp) d.put("mlp", name(mlp));
        if (mlpHidden != NANOGPT.mlpHidden) d.put("mlp-hidden", String.valueOf(mlpHidden));
        if (qkNorm) d.put("qk-norm", "true");
        if (!tieEmbeddings) d.put("tie-embeddings", "false");
        if (logitSoftcap != 0) d.put("logit-softcap", String.valueOf(logitSoftcap));
        return d;
    }

    /** An enum constant as settings and config files write it: {@code RMSNORM} is {@code rmsnorm}. */
    public static String name(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }
}
