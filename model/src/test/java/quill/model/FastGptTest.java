package quill.model;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import quill.autograd.Parameter;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link FastGpt} against {@link KvCache} through the model's layers: the same logits, bit for bit, position by
 * position before and past the block, with either thread count. Block 64, so that two threads split a window's rows
 * where the machine's OpenBLAS sums split rows alike.
 */
class FastGptTest {
    private static final int BLOCK = 64, VOCAB = 13;

    private static Gpt model(GptConfig config) {
        Gpt model = new Gpt(config, 7);
        Nd4j.getRandom().setSeed(3);
        for (Parameter p : model.parameters().values()) {
            p.value().addi(Nd4j.randn(p.value().dataType(), p.value().shape()).muli(0.2));
        }
        model.setTraining(false);
        return model;
    }

    private static GptConfig config(boolean bias, Architecture arch) {
        return new GptConfig(VOCAB, BLOCK, 2, 4, 16, 0.0, bias, arch);
    }

    private static int[] history(int n, long seed) {
        Random r = new Random(seed);
        int[] h = new int[n];
        for (int i = 0; i < n; i++) h[i] = r.nextInt(VOCAB);
        return h;
    }

    private static void assertSameBits(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(Float.floatToIntBits(expected[i]), Float.floatToIntBits(actual[i]),
                    what + ", logit " + i + ": " + expected[i] + " against " + actual[i]);
        }
    }

    /** Grows a history well past the block, then starts over with a new prompt longer than the block. */
    private static void sameAsKvCache(Gpt model, int slide, int threads) {
        KvCache reference = new KvCache(model, slide);
        FastGpt.Cache fast = FastGpt.of(model).cache(slide, threads);
        int[] h = history(3 * BLOCK, 11);
        for (int n = 1; n <= h.length; n++) {
            assertSameBits(reference.nextTokenLogits(h, n), fast.nextTokenLogits(h, n),
                    "slide " + slide + ", threads " + threads + ", n=" + n);
        }
        int[] prompt = history(BLOCK + 9, 12);
        for (int n = 30; n <= prompt.length; n += 13) {                       // unrelated histories: start over
            assertSameBits(reference.nextTokenLogits(prompt, n), fast.nextTokenLogits(prompt, n), "prompt " + n);
        }
    }

    @Test
    void theLogitsAreKvCachesBitForBitWithOneThreadOrTwo() {
        for (boolean bias : new boolean[]{false, true}) {
            Gpt model = model(config(bias, Architecture.NANOGPT));
            for (int threads = 1; threads <= 2; threads++) {
                sameAsKvCache(model, 1, threads);
                sameAsKvCache(model, 5, threads);
            }
        }
    }

    /**
     * A window allocates next to nothing on the Java heap (its logits, JavaCPP's handles for the BLAS calls, the
     * lambdas that hand out its rows): kernels that made their blocks and rows anew on every call allocated 210 KB a
     * window of the CPU preset's model, and so much fresh memory made a sample's windows a quarter slower (README,
     * Sampling).
     */
    @Test
    void aWindowAllocatesNextToNothing() {
        Gpt model = model(new GptConfig(VOCAB, BLOCK, 2, 4, 128, 0.0, true, Architecture.NANOGPT));
        FastGpt.Cache fast = FastGpt.of(model).cache(1, 1);
        int[] h = history(BLOCK + 400, 5);
        for (int n = 1; n <= BLOCK + 200; n++) fast.nextTokenLogits(h, n);
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        for (int n = BLOCK + 201; n <= h.length; n++) fast.nextTokenLogits(h, n);
        double perWindow = (threads.getCurrentThreadAllocatedBytes() - before) / 200.0;
        assertTrue(perWindow < 16_384, perWindow + " bytes a window");      // 7.7 KB here; 126 KB before
    }

    @Test
    void untiedAndPositionFreeModelsToo() {
        Architecture n = Architecture.NANOGPT;
        Architecture untiedNoPositions = new Architecture(n.norm(), Architecture.PosType.NONE, n.ropeBase(), n.mlp(),
                48, false, false, 0);
        sameAsKvCache(model(config(true, untiedNoPositions)), 1, 2);
    }

    /**
     * A wide MLP over narrow rows (512 hidden, 32 channels): OpenBLAS's SkylakeX kernels sum the MLP's 64-row output
     * product differently from its two 32-row halves, and its Haswell kernels every product of a window split at 32,
     * so two threads must split those rows elsewhere or keep them whole, and still give the same bits. Which shapes
     * split exactly depends on the machine's OpenBLAS; that a model's rows split only when all of its products do
     * does not.
     */
    @Test
    void twoThreadsKeepTheRowsWholeWhereSplittingWouldChangeTheSums() {
        Architecture n = Architecture.NANOGPT;
        Architecture wide = new Architecture(n.norm(), n.pos(), n.ropeBase(), n.mlp(), 512, false, true, 0);
        Gpt model = model(new GptConfig(VOCAB, BLOCK, 2, 4, 32, 0.0, false, wide));
        sameAsKvCache(model, 1, 2);
        int[][] shapes = {{16, 48}, {16, 64}, {32, 512}, {512, 32}};
        boolean each = true;
        for (int[] shape : shapes) each &= FastGpt.rowsSplitExactly(BLOCK, 32, new int[][]{shape});
        assertEquals(each, FastGpt.rowsSplitExactly(BLOCK, 32, shapes));
    }

    /**
     * Two threads split a window where every product sums its rows as in one call, as near the middle as that is: a
     * multiple of 4 in [T/4, 3T/4] (32 with OpenBLAS's SkylakeX kernels, 36 with its Haswell ones), or nowhere.
     */
    @Test
    void aWindowIsSplitExactlyAndAsNearTheMiddleAsItCanBe() {
        int[][] shapes = {{128, 384}, {128, 128}, {128, 512}, {512, 128}};    // the CPU preset's products
        int s = FastGpt.exactSplit(BLOCK, shapes);
        if (s != 0) {
            assertEquals(0, s % 4, "split at " + s);
            assertTrue(s >= BLOCK / 4 && s <= BLOCK - BLOCK / 4, "split at " + s);
            assertTrue(FastGpt.rowsSplitExactly(BLOCK, s, shapes), "split at " + s);
        }
        int nearer = s == 0 ? BLOCK / 4 + 1 : Math.abs(s - BLOCK / 2);
        for (int other = BLOCK / 4; other <= BLOCK - BLOCK / 4; other += 4) {
            if (Math.abs(other - BLOCK / 2) < nearer) {
                assertFalse(FastGpt.rowsSplitExactly(BLOCK, other, shapes), "a split nearer the middle: " + other);
            }
        }
    }

    @Test
    void weightsLoadedFromArraysGiveTheSameLogitsAsTheModelsOwn() {
        Gpt model = model(config(true, Architecture.NANOGPT));
        Map<String, float[]> arrays = new HashMap<>();
        model.parameters().forEach((name, p) -> arrays.put(name, p.value().dup().reshape(-1).toFloatVector()));
        FastGpt.Cache loaded = FastGpt.load(model.config(), arrays::get).cache(1, 1);
        FastGpt.Cache own = FastGpt.of(model).cache(1, 1);
        int[] h = history(BLOCK + 20, 4);
        for (int n = 1; n <= h.length; n++) {
            assertSameBits(own.nextTokenLogits(h, n), loaded.nextTokenLogits(h, n), "n=" + n);
        }
        assertEquals(FastGpt.shapes(model.config()).keySet(), model.parameters().keySet());
    }

    @Test
    void aMissingOrMisshapenWeightIsNamed() {
        Gpt model = model(config(false, Architecture.NANOGPT));
        Map<String, float[]> arrays = new HashMap<>();
        model.parameters().forEach((name, p) -> arrays.put(name, p.value().dup().reshape(-1).toFloatVector()));
        arrays.put("transformer.h.1.mlp.c_fc.weight", new float[5]);
        IllegalArgumentException wrong = assertThrows(IllegalArgumentException.class,
                () -> FastGpt.load(model.config(), arrays::get));
        assertTrue(wrong.getMessage().contains("transformer.h.1.mlp.c_fc.weight holds 5 values"), wrong.getMessage());
        arrays.remove("transformer.ln_f.weight");
        arrays.remove("transformer.h.1.mlp.c_fc.weight");
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> FastGpt.load(model.config(), arrays::get));
        assertTrue(missing.getMessage().contains("lack"), missing.getMessage());
    }

    @Test
    void onlyNanoGptsKindOfModelIsRunHereTheRestGoesThroughTheLayers() {
        Architecture n = Architecture.NANOGPT;
        assertTrue(FastGpt.supports(model(config(false, n))));
        assertFalse(FastGpt.supports(config(false, new Architecture(n.norm(), Architecture.PosType.ROPE, 100,
                n.mlp(), 0, false, true, 0))));
        assertFalse(FastGpt.supports(config(false, new Architecture(Architecture.NormType.RMSNORM, n.pos(),
                n.ropeBase(), n.mlp(), 0, false, true, 0))));
        assertFalse(FastGpt.supports(config(false, new Architecture(n.norm(), n.pos(), n.ropeBase(),
                Architecture.MlpType.SWIGLU, 0, false, true, 0))));
        assertFalse(FastGpt.supports(config(false, new Architecture(n.norm(), n.pos(), n.ropeBase(), n.mlp(), 0,
                true, true, 0))));
        assertFalse(FastGpt.supports(config(false, new Architecture(n.norm(), n.pos(), n.ropeBase(), n.mlp(), 0,
                false, true, 30))));
        assertFalse(FastGpt.supports(Gpt.inPrecision(config(false, n), 1, DataType.DOUBLE)));
        Gpt readable = model(config(false, n));
        readable.setReadable(true);
        assertFalse(FastGpt.supports(readable));
        assertThrows(IllegalArgumentException.class, () -> FastGpt.of(readable));
    }

    @Test
    void badArgumentsAreRefused() {
        FastGpt fast = FastGpt.of(model(config(false, Architecture.NANOGPT)));
        assertThrows(IllegalArgumentException.class, () -> fast.cache(0, 1));
        assertThrows(IllegalArgumentException.class, () -> fast.cache(BLOCK + 1, 1));
        assertThrows(IllegalArgumentException.class, () -> fast.cache(1, 0));
        FastGpt.Cache cache = fast.cache(1, 1);
        assertThrows(IllegalArgumentException.class, () -> cache.nextTokenLogits(new int[]{1, VOCAB}, 2));
        assertThrows(IllegalArgumentException.class, () -> cache.nextTokenLogits(new int[]{1}, 2));
    }
}
