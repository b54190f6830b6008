package quill.interop;

import quill.model.GptConfig;
import quill.train.TrainConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Where things sit in nanoGPT's {@code ckpt.pt} (karpathy/nanoGPT, {@code train.py} and {@code model.py}). Its
 * {@code train.py} saves a dict:
 * <pre>
 *   model       model.state_dict(): every parameter by name, lm_head.weight (the same tensor as
 *               transformer.wte.weight) and, on PyTorch before 2.0, each attention's causal mask attn.bias
 *   optimizer   torch.optim.AdamW's state_dict(): per parameter index its step, exp_avg and exp_avg_sq, and
 *               the two parameter groups of configure_optimizers (2-D weights decayed, the rest not)
 *   model_args  n_layer, n_head, n_embd, block_size, bias, vocab_size, dropout
 *   iter_num    iterations done; best_val_loss; config: train.py's settings
 * </pre>
 * Quill's parameters already carry nanoGPT's names; this class knows nanoGPT's order and its groups.
 */
final class NanoGpt {
    /** The causal mask nanoGPT registers as a buffer in each attention when flash attention is missing. */
    private static final Pattern MASK = Pattern.compile("transformer\\.h\\.\\d+\\.attn\\.bias");
    /** torch.compile's wrapper puts this before every name (nanoGPT's train.py strips it too). */
    static final String COMPILED_PREFIX = "_orig_mod.";

    /** nanoGPT's {@code train.py} settings that Quill has no use for (devices, logging services, compilation). */
    static final List<String> NANOGPT_ONLY = List.of("eval_only", "init_from", "wandb_log", "wandb_project",
            "wandb_run_name", "backend", "device", "dtype", "compile");

    private NanoGpt() {
    }

    /**
     * The parameters in the order of nanoGPT's {@code model.named_parameters()} (the order its modules are built
     * in); lm_head.weight is wte's and does not come again.
     */
    static List<String> parameterNames(GptConfig c) {
        List<String> names = new ArrayList<>(List.of("transformer.wte.weight", "transformer.wpe.weight"));
        for (int i = 0; i < c.nLayer(); i++) {
            String h = "transformer.h." + i + ".";
            for (String module : List.of("ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj")) {
                names.add(h + module + ".weight");
                if (c.bias()) names.add(h + module + ".bias");
            }
        }
        names.add("transformer.ln_f.weight");
        if (c.bias()) names.add("transformer.ln_f.bias");
        return names;
    }

    /**
     * The state dict's keys in {@code model.state_dict()}'s order: the parameters, each block's causal mask
     * (before its c_attn: a module's own buffers come before its children's) when {@code masks}, and lm_head.weight.
     */
    static List<String> stateDictNames(GptConfig c, boolean masks) {
        List<String> names = new ArrayList<>();
        for (String name : parameterNames(c)) {
            if (masks && name.endsWith(".attn.c_attn.weight")) names.add(name.replace("c_attn.weight", "bias"));
            names.add(name);
        }
        names.add("lm_head.weight");
        return names;
    }

    /** Whether {@code name} is a block's causal-mask buffer ({@code transformer.h.3.attn.bias}), not a parameter. */
    static boolean isMask(String name) {
        return MASK.matcher(name).matches();
    }

    /**
     * nanoGPT's {@code configure_optimizers} groups: group 0 the parameters of 2 or more dimensions (decayed), group 1
     * the others (biases, LayerNorm gains), each in {@link #parameterNames} order. AdamW's state numbers the
     * parameters through group 0, then group 1.
     */
    static List<List<String>> optimizerGroups(GptConfig c) {
        List<String> decay = new ArrayList<>(), noDecay = new ArrayList<>();
        for (String name : parameterNames(c)) (isMatrix(name) ? decay : noDecay).add(name);
        return List.of(decay, noDecay);
    }

    /** Weights of embeddings and Linear layers are matrices; biases and LayerNorm weights are vectors. */
    private static boolean isMatrix(String name) {
        return name.endsWith(".weight") && !name.contains(".ln_");
    }

    /** nanoGPT's name of a Quill setting: {@code max-iters} is {@code max_iters}. */
    static String snake(String kebab) {
        return kebab.replace('-', '_');
    }

    /** Quill's name of a nanoGPT setting, or null when Quill has no such setting. */
    static String kebab(String snake) {
        String key = snake.toLowerCase(Locale.ROOT).replace('_', '-');
        return TrainConfig.KEYS.contains(key) ? key : null;
    }
}
