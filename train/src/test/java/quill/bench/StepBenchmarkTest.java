package quill.bench;

import quill.train.TrainConfig;
import quill.train.Trainer;

import org.junit.jupiter.api.Test;
import quill.model.Gpt;

import java.io.IOException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StepBenchmarkTest {

    @Test
    void countsFlopsAsNanoGptsEstimateMfu() throws IOException {
        TrainConfig c = TrainConfig.preset("shakespeare_char_cpu");
        Gpt model = new Gpt(Trainer.modelConfig(c, 65), 1);
        // nanoGPT's get_num_params(): 0.80M parameters less wpe (64 x 128)
        long n = StepBenchmark.nonEmbeddingParams(model);
        assertEquals(804_096 - 64 * 128, n);
        // (6 N + 12 L H Q T) T per sequence, 12 sequences: 3.97 GFLOP per iteration
        assertEquals((6.0 * n + 12.0 * 4 * 4 * 32 * 64) * 64 * 12,
                StepBenchmark.flopsPerIter(model.config(), n, 12, 1));
        assertEquals(3_969_515_520.0, StepBenchmark.flopsPerIter(model.config(), n, 12, 1));
    }

    @Test
    void percentilesInterpolateAsNumpy() {
        long[] v = {5, 1, 4, 2, 3};
        assertEquals(3, StepBenchmark.percentile(v, 50));
        assertEquals(1.4, StepBenchmark.percentile(v, 10), 1e-12);
        assertEquals(4.6, StepBenchmark.percentile(v, 90), 1e-12);
    }

    @Test
    void stepsTrainOnRandomIds() throws IOException {
        TrainConfig c = TrainConfig.preset("shakespeare_char_cpu").with(java.util.Map.of(
                "n-layer", "1", "n-embd", "16", "n-head", "2", "block-size", "8", "batch-size", "2"));
        StepBenchmark bench = new StepBenchmark(c, null, StepBenchmark.RANDOM_VOCAB, 2);
        StepBenchmark.Timings t = bench.time(1, 2);
        assertEquals(2, t.wallNs().length);
        assertTrue(t.wallNs()[0] > 0);
        assertTrue(StepBenchmark.nativeBuild().ompThreads() >= 1);
    }
}
