package quill.autograd;

/**
 * A look at every op of the tape while it runs: each forward result as it is made, and each backward closure's
 * gradients right after it has added them into its inputs. The training loop's health statistics read the
 * activations through it, and the NaN detective checks every value for NaN and infinity when it replays a
 * failed step. Off by default, it then costs one branch per op (as {@link Profiler} does).
 *
 * <p><b>Layer names at no cost.</b> The model code does not announce its modules: an op's module is read
 * off the tape. An op with a weight among its inputs is named after that weight's state-dict name without
 * {@code .weight} or {@code .bias} ({@code transformer.h.2.attn.c_attn}; a tied {@code transformer.wte} used by
 * a linear op is {@code lm_head}); an op without one takes its last input's module, one level up from a
 * weight's ({@code gelu} after {@code transformer.h.2.mlp.c_fc} is in {@code transformer.h.2.mlp}). A block's
 * residual sum {@code x + attn(ln_1(x))} is thus named after the sublayer it adds. Names are only worked out
 * while watching.
 */
public final class TapeWatch {

    /** What a watch sees; called on the thread that runs the op. */
    public interface Listener {
        /** Op {@code out} was computed from {@code inputs}; {@code module} names the layer it belongs to. */
        void forward(String module, Tensor out, Tensor[] inputs);

        /** Op {@code out}'s backward has just added its share into the gradients of {@code inputs}. */
        default void backward(String module, Tensor out, Tensor[] inputs) {
        }
    }

    static boolean on;
    private static Listener listener;
    /** The only thread watched, or null for every thread. */
    private static Thread thread;

    private TapeWatch() {
    }

    /**
     * Starts watching the ops that {@code only} runs (null: every thread, in which case {@code l} must be
     * thread-safe). Start before the threads are handed their work, so that they see it.
     */
    public static void start(Listener l, Thread only) {
        listener = l;
        thread = only;
        on = true;
    }

    public static void stop() {
        on = false;
        listener = null;
        thread = null;
    }

    static void forward(Tensor out, Tensor[] inputs) {
        Listener l = listener;
        if (l == null || (thread != null && Thread.currentThread() != thread)) return;
        out.module = scope(out.opName(), inputs);
        l.forward(name(out.opName(), inputs, out.module), out, inputs);
    }

    static void backward(Tensor out, Tensor[] inputs) {
        Listener l = listener;
        if (l == null || (thread != null && Thread.currentThread() != thread)) return;
        l.backward(name(out.opName(), inputs, out.module == null ? "" : out.module), out, inputs);
    }

    /** The layer an op's result belongs to, which the ops after it inherit. */
    private static String scope(String op, Tensor[] inputs) {
        Parameter weight = weight(inputs);
        if (weight != null) return parent(module(op, weight));
        for (int i = inputs.length - 1; i >= 0; i--) if (inputs[i].module != null) return inputs[i].module;
        return "";
    }

    /** The name an op is reported under: its weight's module, or the layer it inherited. */
    private static String name(String op, Tensor[] inputs, String scope) {
        Parameter weight = weight(inputs);
        return weight != null ? module(op, weight) : scope;
    }

    private static Parameter weight(Tensor[] inputs) {
        for (Tensor t : inputs) if (t instanceof Parameter p) return p;
        return null;
    }

    /** {@code transformer.h.0.attn.c_attn.weight} to {@code transformer.h.0.attn.c_attn}; wte in a linear: lm_head. */
    private static String module(String op, Parameter p) {
        String n = p.name();
        if (op.equals("linear") && n.equals("transformer.wte.weight")) return "lm_head";
        if (n.endsWith(".weight")) return n.substring(0, n.length() - ".weight".length());
        if (n.endsWith(".bias")) return n.substring(0, n.length() - ".bias".length());
        return n;
    }

    /** One level up: {@code transformer.h.0.attn.c_attn} to {@code transformer.h.0.attn}; a top-level name stays. */
    private static String parent(String module) {
        int dot = module.lastIndexOf('.');
        return dot < 0 ? module : module.substring(0, dot);
    }
}
