package quill.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SamplerTest {
    private final float[] logits = {0.5f, 2.0f, -1.0f, 1.9f};

    @Test
    void temperatureZeroAndTopOneAreGreedy() {
        assertEquals(1, new Sampler(0, 0, 1).next(logits));
        Sampler topOne = new Sampler(1.0, 1, 1);
        for (int i = 0; i < 100; i++) assertEquals(1, topOne.next(logits));
    }

    @Test
    void topKNeverPicksBelowTheKthLogit() {
        Sampler topTwo = new Sampler(5.0, 2, 7);
        int[] counts = new int[4];
        for (int i = 0; i < 2000; i++) counts[topTwo.next(logits)]++;
        assertEquals(0, counts[0] + counts[2]);
        assertTrue(counts[1] > 800 && counts[3] > 800);
    }

    @Test
    void drawsFollowTheSoftmax() {
        Sampler s = new Sampler(1.0, 0, 42);
        int[] counts = new int[4];
        int n = 200_000;
        for (int i = 0; i < n; i++) counts[s.next(logits)]++;
        double z = 0;
        for (float l : logits) z += Math.exp(l);
        for (int i = 0; i < 4; i++) assertEquals(Math.exp(logits[i]) / z, counts[i] / (double) n, 0.005);
    }

    @Test
    void theSameSeedGivesTheSameDraws() {
        Sampler a = new Sampler(0.8, 200, 1337);
        Sampler b = new Sampler(0.8, 200, 1337);
        for (int i = 0; i < 100; i++) assertEquals(a.next(logits), b.next(logits));
    }

    @Test
    void badSettingsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new Sampler(-0.1, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new Sampler(1, -1, 1));
    }
}
