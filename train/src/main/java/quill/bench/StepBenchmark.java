package quill.bench;

import quill.data.TokenFile;
import quill.train.DataParallel;
import quill.train.HealthStats;
import quill.train.LearningRateSchedule;
import quill.train.TrainConfig;
import quill.train.Trainer;
import quill.train.TrainingStep;

import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.nativeblas.NativeOpsHolder;
import quill.autograd.Parameter;
import quill.random.TorchGenerator;
import quill.runtime.Backend;
import quill.model.Gpt;
import quill.model.GptConfig;
import quill.optim.Optimizer;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.OptionalLong;
import java.util.SplittableRandom;

/**
 * Times full training steps ({@link TrainingStep}: forward and backward over every micro-batch, gradient
 * clipping, AdamW) of a configuration, for {@code quill bench} and the JMH step benchmark; and the facts a
 * timing needs beside it: the FLOPs a step does, the ND4J build and thread count, the peak resident memory.
 */
public final class StepBenchmark {

    /** The vocabulary size of random batches when no prepared data is used (Tiny Shakespeare's 65 characters). */
    public static final int RANDOM_VOCAB = 65;

    private final TrainConfig config;
    private final Gpt model;
    private final TrainingStep step;
    private final TrainingStep.Batches batches;
    private final LearningRateSchedule schedule;
    private int iter;

    /**
     * A fresh model of {@code config}'s shape (seeded by its seed) trained on batches from {@code train}, or,
     * when {@code train} is null, on uniformly random ids below {@link #RANDOM_VOCAB} (the speed is the same);
     * each batch shared among {@code workers} threads ({@link DataParallel}).
     */
    public StepBenchmark(TrainConfig config, TokenFile train, int vocabSize, int workers) {
        this.config = config;
        this.model = new Gpt(Trainer.modelConfig(config, vocabSize), config.seed());
        Optimizer optimizer = config.newOptimizer(model.parameters());
        this.step = new TrainingStep(new DataParallel(model, workers), optimizer, config);
        this.schedule = LearningRateSchedule.of(config);
        TorchGenerator batchRng = new TorchGenerator(config.seed());
        SplittableRandom ids = new SplittableRandom(config.seed());
        this.batches = train != null ? (x, y) -> train.sampleBatch(batchRng, x, y) : (x, y) -> {
            for (int b = 0; b < x.length; b++) {
                for (int t = 0; t < x[b].length; t++) {
                    x[b][t] = t == 0 ? ids.nextInt(vocabSize) : y[b][t - 1];
                    y[b][t] = ids.nextInt(vocabSize);
                }
            }
        };
    }

    public Gpt model() {
        return model;
    }

    /**
     * One training step, as {@code quill train} takes it, with its {@link HealthStats} every {@code health-interval}
     * steps (made into their metrics line, as the trainer does); returns its loss.
     */
    public double step() {
        HealthStats health = isHealthStep() ? new HealthStats() : null;
        TrainingStep.Result r = step.run(batches, schedule.at(iter), health);
        if (!r.updated()) throw new IllegalStateException("the loss or gradient became " + r.loss() + "/"
                + r.gradNorm());
        if (health != null) health.toJson(iter).toString();
        iter++;
        return r.loss();
    }

    /** Whether the next step records health statistics. */
    private boolean isHealthStep() {
        return config.healthInterval() > 0 && iter % config.healthInterval() == 0;
    }

    /**
     * Wall-clock and process CPU nanoseconds of each step. On a machine shared with other work the CPU time
     * is the steadier figure: the wall clock also counts the time the scheduler gives to other processes.
     */
    public record Timings(long[] wallNs, long[] cpuNs, boolean[] health) {
    }

    /** Times {@code steps} steps, after {@code warmup} untimed ones. */
    public Timings time(int warmup, int steps) {
        for (int i = 0; i < warmup; i++) step();
        long[] wall = new long[steps];
        long[] cpu = new long[steps];
        boolean[] health = new boolean[steps];
        for (int i = 0; i < steps; i++) {
            health[i] = isHealthStep();
            long c0 = processCpuNanos();
            long t0 = System.nanoTime();
            step();
            wall[i] = System.nanoTime() - t0;
            cpu[i] = processCpuNanos() - c0;
        }
        return new Timings(wall, cpu, health);
    }

    /** CPU time of the whole process (all threads, JIT and GC included); -1 where the JVM cannot tell. */
    private static long processCpuNanos() {
        return ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os
                ? os.getProcessCpuTime() : -1;
    }

    /**
     * nanoGPT's parameter count for its FLOP estimate, {@code get_num_params(non_embedding=True)}: every
     * parameter except the position embeddings (the token embedding counts, as it is also lm_head).
     */
    public static long nonEmbeddingParams(Gpt model) {
        long n = 0;
        for (Parameter p : model.parameters().values()) {
            if (!p.name().equals("transformer.wpe.weight")) n += p.value().length();
        }
        return n;
    }

    /**
     * FLOPs of one optimizer step as nanoGPT's {@code estimate_mfu} counts them (PaLM paper, appendix B):
     * {@code flops_per_token = 6 N + 12 L H Q T}, times T tokens per sequence, times
     * {@code batch_size * gradient_accumulation_steps} sequences per step; N from {@link #nonEmbeddingParams}.
     * https://github.com/karpathy/nanoGPT/blob/master/model.py ({@code estimate_mfu}, {@code get_num_params})
     */
    public static double flopsPerIter(GptConfig g, long nonEmbeddingParams, int batchSize, int accumulationSteps) {
        long l = g.nLayer(), h = g.nHead(), q = g.nEmbd() / g.nHead(), t = g.blockSize();
        double perToken = 6.0 * nonEmbeddingParams + 12.0 * l * h * q * t;
        return perToken * t * batchSize * accumulationSteps;
    }

    /**
     * The p-th percentile (0..100) of the values, by linear interpolation between the sorted values (numpy's default).
     */
    public static double percentile(long[] values, double p) {
        long[] s = values.clone();
        Arrays.sort(s);
        double pos = p / 100 * (s.length - 1);
        int lo = (int) Math.floor(pos), hi = (int) Math.ceil(pos);
        return s[lo] + (s[hi] - s[lo]) * (pos - lo);
    }

    /** Peak resident memory of this process (VmHWM in /proc/self/status), where the OS reports it. */
    public static OptionalLong peakResidentBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    String[] f = line.substring(6).trim().split("\\s+");        // "123456 kB"
                    return OptionalLong.of(Long.parseLong(f[0]) * 1024);
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or no procfs: no figure
        }
        return OptionalLong.empty();
    }

    /** The ND4J native build in use and its threads. */
    public record NativeBuild(String backend, boolean onednn, String blasVendor, int ompThreads, int blasThreads) {
    }

    public static NativeBuild nativeBuild() {
        var info = Nd4j.getExecutioner().getEnvironmentInformation();
        String build = NativeOpsHolder.getInstance().getDeviceNativeOps().buildInfo();
        return new NativeBuild(String.valueOf(info.getOrDefault("backend", "?")),
                build != null && build.contains("HAVE_ONEDNN"),
                String.valueOf(info.getOrDefault("blas.vendor", "?")),
                NativeOpsHolder.getInstance().getDeviceNativeOps().ompGetMaxThreads(),
                Nd4j.factory().blas().getMaxThreads());
    }

    /**
     * Sets the threads ND4J's native ops (OpenMP) and its BLAS (OpenBLAS) use, at run time; the
     * OMP_NUM_THREADS environment variable sets the same before start-up.
     */
    public static void setThreads(int threads) {
        Nd4j.getBackend();                                    // loads the native library first
        Backend.setThreads(threads);              // also Quill's own kernels (Parallel)
    }
}
