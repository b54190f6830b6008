package quill.bench;

import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ops.executioner.OpExecutioner;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.profiler.OpProfiler;
import quill.autograd.Parameter;
import quill.optim.AdamW;
import quill.model.Gpt;
import quill.train.DataParallel;
import quill.train.TrainConfig;

import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Where a training step's time and memory go, for the performance work (not part of the test suite):
 * the step's phases timed apart, bytes allocated per step (Java heap, and ND4J workspace), and ND4J's own
 * op profiler (op counts and time per op class). Run under JFR for the per-model-op table (see the README).
 * Arguments: [preset] [threads: DataParallel workers] [steps].
 */
public final class StepProfile {
    public static void main(String[] args) throws Exception {
        String preset = args.length > 0 ? args[0] : TrainConfig.DEFAULT_PRESET;
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : 1;
        int steps = args.length > 2 ? Integer.parseInt(args[2]) : 100;
        TrainConfig c = TrainConfig.preset(preset);
        Gpt model = new Gpt(new quill.model.GptConfig(StepBenchmark.RANDOM_VOCAB, c.blockSize(), c.nLayer(), c.nHead(),
                c.nEmbd(), c.dropout(), c.bias()), c.seed());
        AdamW opt = new AdamW(model.parameters(), c.beta1(), c.beta2(), 1e-8, c.weightDecay());
        List<Parameter> params = List.copyOf(model.parameters().values());
        DataParallel workers = new DataParallel(model, threads);
        Random r = new Random(1);
        int[][] x = new int[c.batchSize()][c.blockSize()], y = new int[c.batchSize()][c.blockSize()];
        var threadBean = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long tid = Thread.currentThread().getId();

        long[][] phase = new long[4][steps];   // forwardBackward, clip, adamw, zeroGrad
        long[] heap = new long[steps];
        long wsStep = 0, wsOpt = 0;
        for (int i = -20; i < steps; i++) {
            for (int[] row : x) for (int t = 0; t < row.length; t++) row[t] = r.nextInt(StepBenchmark.RANDOM_VOCAB);
            for (int[] row : y) for (int t = 0; t < row.length; t++) row[t] = r.nextInt(StepBenchmark.RANDOM_VOCAB);
            long h0 = threadBean.getThreadAllocatedBytes(tid);
            long t0 = System.nanoTime();
            workers.forwardBackward(x, y, 1.0);
            long t1 = System.nanoTime();
            AdamW.clipGradNorm(params, c.gradClip());
            long t2 = System.nanoTime();
            opt.step(1e-3);
            long t3 = System.nanoTime();
            for (Parameter p : params) p.zeroGrad();
            long t4 = System.nanoTime();
            long h1 = threadBean.getThreadAllocatedBytes(tid);
            if (i >= 0) {
                phase[0][i] = t1 - t0;
                phase[1][i] = t2 - t1;
                phase[2][i] = t3 - t2;
                phase[3][i] = t4 - t3;
                heap[i] = h1 - h0;
            }
        }
        for (MemoryWorkspace ws : Nd4j.getWorkspaceManager().getAllWorkspacesForCurrentThread()) {
            System.out.printf(Locale.ROOT, "workspace %-16s size %,d bytes, last cycle allocated %,d bytes (max %,d)%n",
                    ws.getId(), ws.getCurrentSize(), ws.getLastCycleAllocations(), ws.getMaxCycleAllocations());
        }
        String[] names = {"forwardBackward", "clipGradNorm", "AdamW.step", "zeroGrad"};
        long[] total = new long[steps];
        for (int p = 0; p < 4; p++) for (int i = 0; i < steps; i++) total[i] += phase[p][i];
        System.out.printf(Locale.ROOT, "threads %d, %d steps: median ms%n", threads, steps);
        for (int p = 0; p < 4; p++) {
            System.out.printf(Locale.ROOT, "  %-16s %7.2f%n", names[p], StepBenchmark.percentile(phase[p], 50) / 1e6);
        }
        System.out.printf(Locale.ROOT, "  %-16s %7.2f  (p10 %.2f, p90 %.2f)%n", "step",
                StepBenchmark.percentile(total, 50) / 1e6, StepBenchmark.percentile(total, 10) / 1e6,
                StepBenchmark.percentile(total, 90) / 1e6);
        System.out.printf(Locale.ROOT, "Java heap allocated per step: median %,.0f bytes%n",
                StepBenchmark.percentile(heap, 50));
        System.out.printf(Locale.ROOT, "peak RSS %,d bytes%n", StepBenchmark.peakResidentBytes().orElse(-1));

        // ND4J's op profiler over a few steps: op counts and time per op class
        int profiled = 10;
        OpProfiler.getInstance().reset();
        Nd4j.getExecutioner().setProfilingMode(OpExecutioner.ProfilingMode.OPERATIONS);
        for (int i = 0; i < profiled; i++) {
            workers.forwardBackward(x, y, 1.0);
            AdamW.clipGradNorm(params, c.gradClip());
            opt.step(1e-3);
            for (Parameter p : params) p.zeroGrad();
        }
        Nd4j.getExecutioner().setProfilingMode(OpExecutioner.ProfilingMode.DISABLED);
        OpProfiler prof = OpProfiler.getInstance();
        System.out.printf(Locale.ROOT, "%nND4J OpProfiler over %d steps: %d op invocations (%.1f per step)%n",
                profiled, prof.getInvocationsCount(), prof.getInvocationsCount() / (double) profiled);
        System.out.println("--- op counts (by op name) ---");
        System.out.println(prof.getOpCounter().asString());
        System.out.println("--- time by op class ---");
        System.out.println(prof.getClassAggergator().asString());
        System.out.println("--- BLAS calls ---");
        System.out.println(prof.getBlasOrderCounter().asString());
    }
}
