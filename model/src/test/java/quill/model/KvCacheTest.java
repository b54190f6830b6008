package quill.model;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import quill.autograd.Parameter;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The cached forward against the model's own full forward, position by position, before and past the block. */
class KvCacheTest {
    private static final int BLOCK = 8, VOCAB = 11;

    /** A small model with weights large enough that the logits are far from uniform. */
    private static Gpt model(boolean bias, DataType type) {
        Gpt model = Gpt.inPrecision(new GptConfig(VOCAB, BLOCK, 2, 2, 8, 0.0, bias), 7, type);
        Nd4j.getRandom().setSeed(3);
        for (Parameter p : model.parameters().values()) {
            p.value().addi(Nd4j.randn(type, p.value().shape()).muli(0.3));
        }
        model.setTraining(false);
        return model;
    }

    private static int[] history(int n, long seed) {
        Random r = new Random(seed);
        int[] h = new int[n];
        for (int i = 0; i < n; i++) h[i] = r.nextInt(VOCAB);
        return h;
    }

    private static void assertClose(float[] expected, float[] actual, double tolerance, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], tolerance * Math.max(1, Math.abs(expected[i])), what + ", logit " + i);
        }
    }

    /**
     * Growing the history one token at a time, well past blockSize: the cache must equal the full forward on the
     * cropped context.
     */
    private static void matchesFullForward(boolean bias, DataType type, double tolerance) {
        Gpt model = model(bias, type);
        KvCache cache = new KvCache(model);
        int[] h = history(3 * BLOCK, 11);
        for (int n = 1; n <= h.length; n++) {
            float[] expected = model.nextTokenLogits(Arrays.copyOfRange(h, Math.max(0, n - BLOCK), n));
            assertClose(expected, cache.nextTokenLogits(h, n), tolerance, type + " bias=" + bias + " n=" + n);
            assertEquals(Math.min(n, BLOCK), cache.length());
        }
    }

    @Test
    void cachedLogitsEqualTheFullForwardInFloat32() {
        matchesFullForward(false, DataType.FLOAT, 1e-5);
        matchesFullForward(true, DataType.FLOAT, 1e-5);
    }

    @Test
    void cachedLogitsEqualTheFullForwardInFloat64() {
        matchesFullForward(false, DataType.DOUBLE, 1e-10);
        matchesFullForward(true, DataType.DOUBLE, 1e-10);
    }

    @Test
    void aPromptLongerThanTheBlockIsCroppedToItsLastBlockSizeTokens() {
        Gpt model = model(false, DataType.DOUBLE);
        int[] h = history(BLOCK + 5, 5);
        float[] expected = model.nextTokenLogits(Arrays.copyOfRange(h, 5, h.length));
        assertClose(expected, new KvCache(model).nextTokenLogits(h, h.length), 1e-10, "cropped prompt");
    }

    @Test
    void anUnrelatedHistoryStartsOver() {
        Gpt model = model(false, DataType.DOUBLE);
        KvCache cache = new KvCache(model);
        int[] a = history(5, 1), b = history(4, 2);
        cache.nextTokenLogits(a, 5);
        assertClose(model.nextTokenLogits(b), cache.nextTokenLogits(b, 4), 1e-10, "new prompt");
        b[3] = (b[3] + 1) % VOCAB; // same length + 0, different last token: not an extension either
        assertClose(model.nextTokenLogits(b), cache.nextTokenLogits(b, 4), 1e-10, "changed prompt");
    }

    @Test
    void aLargerSlideDropsThatManyTokensAtOnceAndRecomputesFromPositionZero() {
        Gpt model = model(true, DataType.DOUBLE);
        int slide = 3;
        KvCache cache = new KvCache(model, slide);
        int[] h = history(4 * BLOCK, 9);
        int[] lengths = new int[h.length + 1];
        for (int n = 1; n <= h.length; n++) {
            float[] logits = cache.nextTokenLogits(h, n);
            lengths[n] = cache.length();
            // the logits are the full forward of the window the cache now holds, at positions 0..length-1
            assertClose(model.nextTokenLogits(Arrays.copyOfRange(h, n - lengths[n], n)), logits, 1e-10, "n=" + n);
        }
        // fills to the block, then drops `slide` tokens: BLOCK - slide + 1 tokens remain, and grows again
        assertEquals(BLOCK, lengths[BLOCK]);
        assertEquals(BLOCK - slide + 1, lengths[BLOCK + 1]);
        assertEquals(BLOCK, lengths[BLOCK + slide]);
        assertEquals(BLOCK - slide + 1, lengths[BLOCK + slide + 1]);
    }

    @Test
    void aSlideOutsideOneToBlockSizeIsRejected() {
        Gpt model = model(false, DataType.FLOAT);
        assertThrows(IllegalArgumentException.class, () -> new KvCache(model, 0));
        assertThrows(IllegalArgumentException.class, () -> new KvCache(model, BLOCK + 1));
    }
}
