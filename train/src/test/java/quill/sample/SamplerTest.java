package quill.sample;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.factory.Nd4j;
import quill.autograd.Parameter;
import quill.model.Gpt;
import quill.model.GptConfig;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
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
        assertThrows(IllegalArgumentException.class, () -> new Sampler(1, 0, 0.0, 1));
        assertThrows(IllegalArgumentException.class, () -> new Sampler(1, 0, 1.5, 1));
        assertThrows(IllegalArgumentException.class, () -> new Sampler(1, 0, Double.NaN, 1));
    }

    /** Which ids a sampler draws at all in many draws. */
    private boolean[] drawn(Sampler s) {
        boolean[] seen = new boolean[4];
        for (int i = 0; i < 3000; i++) seen[s.next(logits)] = true;
        return seen;
    }

    @Test
    void topPKeepsTheSmallestSetReachingP() {
        // softmax of the logits at temperature 1: id 1 0.459, id 3 0.416, id 0 0.103, id 2 0.023
        assertArrayEquals(new boolean[]{false, true, false, false}, drawn(new Sampler(1, 0, 0.4, 3)));
        assertArrayEquals(new boolean[]{false, true, false, true}, drawn(new Sampler(1, 0, 0.5, 3)));
        assertArrayEquals(new boolean[]{false, true, false, true}, drawn(new Sampler(1, 0, 0.87, 3)));
        assertArrayEquals(new boolean[]{true, true, false, true}, drawn(new Sampler(1, 0, 0.9, 3)));
        assertArrayEquals(new boolean[]{true, true, true, true}, drawn(new Sampler(1, 0, 1.0, 3)));
    }

    @Test
    void topPAppliesAfterTopKAndTemperature() {
        // top-k 2 leaves ids 1 and 3, renormalised to 0.525 / 0.475: p 0.5 keeps id 1 only
        assertArrayEquals(new boolean[]{false, true, false, false}, drawn(new Sampler(1, 2, 0.5, 3)));
        // a high temperature flattens the distribution: id 1's share drops below 0.4, so id 3 joins it
        assertArrayEquals(new boolean[]{false, true, false, true}, drawn(new Sampler(10, 0, 0.4, 3)));
    }

    @Test
    void theKeptTokensKeepTheirRelativeOdds() {
        Sampler s = new Sampler(1, 0, 0.5, 11);
        int[] counts = new int[4];
        int n = 100_000;
        for (int i = 0; i < n; i++) counts[s.next(logits)]++;
        double p1 = Math.exp(2.0), p3 = Math.exp(1.9);
        assertEquals(p1 / (p1 + p3), counts[1] / (double) n, 0.01);
    }

    /** A small model whose weights are spread wide enough that its next-token distributions are far from uniform. */
    static Gpt model() {
        Gpt model = new Gpt(new GptConfig(12, 8, 2, 2, 16, 0.0, false), 5);
        Nd4j.getRandom().setSeed(5);
        for (Parameter p : model.parameters().values()) p.value().addi(
                Nd4j.randn(p.value().dataType(), p.value().shape()).muli(0.3));
        model.setTraining(false);
        return model;
    }

    private static int[] generate(Sampler.Logits logits, double temperature, long seed, int[] prompt, int n) {
        List<Integer> streamed = new ArrayList<>();
        int[] ids = new Sampler(temperature, 200, seed).generate(logits, prompt, n, streamed::add);
        assertArrayEquals(ids, streamed.stream().mapToInt(Integer::intValue).toArray(), "streamed ids");
        return ids;
    }

    @Test
    void theKvCacheGivesTheSameTextAsTheFullForwardWellPastTheBlock() {
        Gpt model = model();
        int[] prompt = {1, 2, 3};
        int[] full = generate(Sampler.fullForward(model), 0.8, 1337, prompt, 40); // block 8: 35 tokens past it
        int[] cached = generate(Sampler.cached(model, 1), 0.8, 1337, prompt, 40);
        assertArrayEquals(full, cached);
        assertArrayEquals(full, new Sampler(0.8, 200, 1337).generate(model, prompt, 40, id -> { }), "the default path");
        assertEquals(full.length, 40);
    }

    @Test
    void theSameSeedGivesTheSameTextAndAnotherSeedOtherText() {
        Gpt model = model();
        int[] prompt = {4};
        int[] a = generate(Sampler.cached(model, 1), 1.0, 7, prompt, 30);
        assertArrayEquals(a, generate(Sampler.cached(model, 1), 1.0, 7, prompt, 30));
        assertNotEquals(Arrays.toString(a), Arrays.toString(generate(Sampler.cached(model, 1), 1.0, 8, prompt, 30)));
    }

    @Test
    void temperatureZeroTakesTheArgmaxEveryStep() {
        Gpt model = model();
        int[] prompt = {0, 5};
        int[] greedy = generate(Sampler.cached(model, 1), 0, 1, prompt, 20);
        assertArrayEquals(greedy, generate(Sampler.fullForward(model), 0, 99, prompt, 20), "seed-independent");
        int[] all = Arrays.copyOf(prompt, prompt.length + greedy.length);
        for (int i = 0; i < greedy.length; i++) {
            int n = prompt.length + i;
            float[] l = model.nextTokenLogits(Arrays.copyOfRange(all, Math.max(0, n - 8), n));
            int best = 0;
            for (int j = 1; j < l.length; j++) if (l[j] > l[best]) best = j;
            assertEquals(best, greedy[i], "step " + i);
            all[n] = best;
        }
    }

    @Test
    void aPromptLongerThanTheBlockIsCropped() {
        Gpt model = model();
        int[] prompt = new int[20];
        for (int i = 0; i < prompt.length; i++) prompt[i] = (i * 7) % 12;
        int[] full = generate(Sampler.fullForward(model), 0.8, 3, prompt, 10);
        assertArrayEquals(full, generate(Sampler.cached(model, 1), 0.8, 3, prompt, 10));
        // only the last 8 prompt tokens matter
        int[] tail = Arrays.copyOfRange(prompt, 12, 20);
        assertArrayEquals(full, generate(Sampler.cached(model, 1), 0.8, 3, tail, 10));
    }
}
