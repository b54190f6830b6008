package quill.model;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import quill.autograd.GradAssert;
import quill.autograd.GradCheck;
import quill.autograd.Nn;
import quill.autograd.Parameter;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every architecture switch: its parameters, its gradient, and generation through the KV cache. */
class ArchitectureTest {
    private static final Architecture N = Architecture.NANOGPT;

    /** nanoGPT's, each dump's variant of shared/reference, and all of them together. */
    static final Map<String, Architecture> VARIANTS = new LinkedHashMap<>();

    static {
        VARIANTS.put("nanoGPT", N);
        VARIANTS.put("rope", new Architecture(N.norm(), Architecture.PosType.ROPE, 100, N.mlp(), 0, false, true, 0));
        VARIANTS.put("rmsnorm qk-norm", new Architecture(Architecture.NormType.RMSNORM, N.pos(), N.ropeBase(),
                N.mlp(), 0, true, true, 0));
        VARIANTS.put("relu2 no positions", new Architecture(N.norm(), Architecture.PosType.NONE, N.ropeBase(),
                Architecture.MlpType.RELU2, 0, false, true, 0));
        VARIANTS.put("swiglu untied softcap", new Architecture(N.norm(), N.pos(), N.ropeBase(),
                Architecture.MlpType.SWIGLU, 12, false, false, 3));
        VARIANTS.put("modern", new Architecture(Architecture.NormType.RMSNORM, Architecture.PosType.ROPE, 10000,
                Architecture.MlpType.SWIGLU, 12, true, false, 3));
    }

    private static final int BLOCK = 8, VOCAB = 11;

    @Test
    void parametersFollowTheSwitches() {
        GptConfig shape = new GptConfig(VOCAB, BLOCK, 2, 2, 8, 0.0, true);
        Set<String> rope = new Gpt(shape.with(VARIANTS.get("rope")), 1).parameters().keySet();
        assertFalse(rope.contains("transformer.wpe.weight"));
        Set<String> rms = new Gpt(shape.with(VARIANTS.get("rmsnorm qk-norm")), 1).parameters().keySet();
        assertTrue(rms.contains("transformer.h.0.ln_1.weight") && !rms.contains("transformer.h.0.ln_1.bias"));
        assertTrue(rms.contains("transformer.h.0.attn.c_attn.bias"), "the Linear layers keep their biases");
        Map<String, Parameter> swiglu = new Gpt(shape.with(VARIANTS.get("swiglu untied softcap")), 1).parameters();
        assertArrayEquals(new long[]{24, 8}, swiglu.get("transformer.h.0.mlp.c_fc.weight").shape());   // 2 * mlp-hidden
        assertArrayEquals(new long[]{8, 12}, swiglu.get("transformer.h.0.mlp.c_proj.weight").shape());
        assertArrayEquals(new long[]{VOCAB, 8}, swiglu.get("lm_head.weight").shape());
        assertEquals("lm_head.weight", swiglu.keySet().stream().reduce((a, b) -> b).orElseThrow(),
                "lm_head comes last");
        assertFalse(new Gpt(shape, 1).parameters().containsKey("lm_head.weight"), "tied: lm_head is wte");
    }

    @Test
    void anUntiedHeadIsDrawnLikeAnyLinear() {
        Gpt model = new Gpt(new GptConfig(VOCAB, BLOCK, 2, 2, 8, 0.0, false)
                .with(VARIANTS.get("swiglu untied softcap")), 3);
        double std = model.parameters().get("lm_head.weight").value().stdNumber().doubleValue();
        assertEquals(0.02, std, 0.006);
        assertFalse(model.parameters().get("lm_head.weight").value()
                .equals(model.parameters().get("transformer.wte.weight").value()));
    }

    @Test
    void everyVariantsGradientMatchesFiniteDifferences() {
        for (Map.Entry<String, Architecture> v : VARIANTS.entrySet()) {
            for (boolean bias : v.getKey().equals("modern") ? new boolean[]{true, false} : new boolean[]{true}) {
                GptConfig config = new GptConfig(7, 5, 2, 2, 4, 0.0, bias).with(v.getValue());
                Gpt gpt = Gpt.inPrecision(config, 3, DataType.DOUBLE);
                randomise(gpt, DataType.DOUBLE);
                double error = GradCheck.maxRelativeError(() -> Nn.crossEntropy(gpt.forward(GptTest.X), GptTest.Y),
                        gpt.parameters().values());
                assertTrue(error <= GradAssert.TOLERANCE, v.getKey() + " bias=" + bias + ": gradient off by " + error);
            }
        }
    }

    /**
     * Grows a history one token at a time to three blocks: the cached logits must equal the full forward's on
     * the context cropped to the block, as nanoGPT's generate crops it (1e-5 relative, float32).
     */
    @Test
    void cachedLogitsEqualTheFullForwardForEveryVariant() {
        for (Map.Entry<String, Architecture> v : VARIANTS.entrySet()) {
            cachedEqualsFull(v.getKey(), cfg -> new Gpt(cfg.with(v.getValue()), 7), DataType.FLOAT, 1e-5);
        }
        cachedEqualsFull("custom norm", cfg -> Gpt.withNorm(cfg, 7, CustomNormTest.RmsNorm::new), DataType.FLOAT, 1e-5);
        cachedEqualsFull("modern, float64",
                cfg -> Gpt.inPrecision(cfg.with(VARIANTS.get("modern")), 7, DataType.DOUBLE),
                DataType.DOUBLE, 1e-10);
    }

    private static void cachedEqualsFull(String what, Function<GptConfig, Gpt> build, DataType type, double tolerance) {
        Gpt model = build.apply(new GptConfig(VOCAB, BLOCK, 2, 2, 8, 0.0, true));
        randomise(model, type);
        model.setTraining(false);
        KvCache cache = new KvCache(model);
        int[] h = new int[3 * BLOCK];
        Random r = new Random(11);
        for (int i = 0; i < h.length; i++) h[i] = r.nextInt(VOCAB);
        for (int n = 1; n <= h.length; n++) {
            float[] expected = model.nextTokenLogits(Arrays.copyOfRange(h, Math.max(0, n - BLOCK), n));
            float[] cached = cache.nextTokenLogits(h, n);
            for (int i = 0; i < expected.length; i++) {
                assertEquals(expected[i], cached[i], tolerance * Math.max(1, Math.abs(expected[i])),
                        what + ", n=" + n + ", logit " + i);
            }
        }
        // a new prompt longer than the block: cropped, then cached from there
        int[] prompt = Arrays.copyOf(h, 2 * BLOCK + 3);
        float[] expected = model.nextTokenLogits(Arrays.copyOfRange(prompt, prompt.length - BLOCK, prompt.length));
        float[] cached = new KvCache(model).nextTokenLogits(prompt, prompt.length);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], cached[i], tolerance * Math.max(1, Math.abs(expected[i])),
                    what + ", long prompt");
        }
    }

    @Test
    void ropeNeedsAnEvenHeadSize() {
        assertThrows(IllegalArgumentException.class, () -> new GptConfig(VOCAB, BLOCK, 1, 2, 6, 0.0, true)
                .with(VARIANTS.get("rope")));
    }

    /** Weights large enough that every part of the model matters to the logits. */
    private static void randomise(Gpt model, DataType type) {
        Nd4j.getRandom().setSeed(3);
        for (Parameter p : model.parameters().values()) p.value().addi(Nd4j.randn(type, p.value().shape()).muli(0.3));
    }
}
