package quill.bench;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import quill.train.TrainConfig;

import java.io.IOException;
import java.util.concurrent.TimeUnit;

/**
 * One whole training step of a preset (forward and backward, gradient clipping, AdamW, zeroed gradients:
 * {@code TrainingStep}, as {@code quill train} runs it) on random token ids. {@code quill bench} times the
 * same thing with percentiles and a FLOP rate.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "-Xmx2g")
public class StepBench {

    @Param({TrainConfig.DEFAULT_PRESET})
    public String preset;

    /** Worker threads, each taking a share of the batch's rows (DataParallel). */
    @Param({"1", "2"})
    public int threads;

    private StepBenchmark step;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        step = new StepBenchmark(TrainConfig.preset(preset), null, StepBenchmark.RANDOM_VOCAB, threads);
    }

    @Benchmark
    public double trainingStep() {
        return step.step();
    }
}
