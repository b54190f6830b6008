package quill.model;

import quill.optim.AdamW;

import quill.autograd.Parameter;

import java.util.Arrays;
import java.util.Random;

/**
 * Times a training step of nanoGPT's shakespeare_char CPU configuration (B=12, T=64, 4 layers, 4 heads,
 * 128 wide, vocabulary 65, no bias, no dropout): zero grads, forward+backward, clip, AdamW. Prints the
 * median over the timed steps after a warm-up, and the median of each phase.
 * Run: {@code java -cp <classpath> quill.model.StepTiming [steps]}.
 */
public final class StepTiming {
    public static void main(String[] args) {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 50;
        GptConfig config = new GptConfig(65, 64, 4, 4, 128, 0.0, false);
        Gpt gpt = new Gpt(config, 1337);
        AdamW adamW = new AdamW(gpt.parameters(), 0.9, 0.99, 1e-8, 0.1);
        Random r = new Random(1);
        int b = 12, t = 64;
        int[][] x = new int[b][t], y = new int[b][t];
        for (int i = 0; i < b; i++) for (int j = 0; j < t; j++) { x[i][j] = r.nextInt(65); y[i][j] = r.nextInt(65); }
        int warmup = 15;
        double[][] phase = new double[4][steps];
        double[][] phaseCpu = new double[4][steps];
        double[] cpu = new double[steps];
        double[] threadCpu = new double[steps];
        java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean)
                        java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        for (int s = -warmup; s < steps; s++) {
            long c0 = os.getProcessCpuTime();
            long tc0 = threads.getCurrentThreadCpuTime();
            long t0 = System.nanoTime();
            gpt.parameters().values().forEach(Parameter::zeroGrad);
            long t1 = System.nanoTime(), tc1 = threads.getCurrentThreadCpuTime();
            gpt.forwardBackward(x, y, 1.0);
            long t2 = System.nanoTime(), tc2 = threads.getCurrentThreadCpuTime();
            AdamW.clipGradNorm(gpt.parameters().values(), 1.0);
            long t3 = System.nanoTime(), tc3 = threads.getCurrentThreadCpuTime();
            adamW.step(1e-3);
            long t4 = System.nanoTime(), tc4 = threads.getCurrentThreadCpuTime();
            if (s >= 0) {
                phaseCpu[1][s] = (tc2 - tc1) / 1e6;
                phaseCpu[2][s] = (tc1 - tc0 + tc3 - tc2) / 1e6;
                phaseCpu[3][s] = (tc4 - tc3) / 1e6;
            }
            if (s >= 0) {
                cpu[s] = (os.getProcessCpuTime() - c0) / 1e6;
                threadCpu[s] = (threads.getCurrentThreadCpuTime() - tc0) / 1e6;
                phase[0][s] = (t4 - t0) / 1e6;
                phase[1][s] = (t2 - t1) / 1e6;
                phase[2][s] = (t1 - t0 + t3 - t2) / 1e6;
                phase[3][s] = (t4 - t3) / 1e6;
            }
        }
        quill.autograd.Profiler.start();
        for (int s = 0; s < 10; s++) {
            quill.autograd.Profiler.mark();
            gpt.forwardBackward(x, y, 1.0);
        }
        for (quill.autograd.Profiler.Entry e : quill.autograd.Profiler.stop()) {
            System.out.printf("  %-14s %3d calls/step  cpu: forward %6.2f ms  backward %6.2f ms"
                    + "  (wall %6.2f + %6.2f)%n",
                    e.op(), e.calls() / 10, e.forwardCpuMs() / 10, e.backwardCpuMs() / 10,
                    e.forwardMs() / 10, e.backwardMs() / 10);
        }
        System.out.printf("main-thread CPU per step: median %.2f ms (min %.2f)%n", median(threadCpu),
                Arrays.stream(threadCpu).min().orElse(0));
        System.out.printf("main-thread CPU: forward+backward %.2f | zero+clip %.2f | adamw %.2f%n",
                median(phaseCpu[1]), median(phaseCpu[2]), median(phaseCpu[3]));
        System.out.printf("process CPU per step: median %.2f ms (min %.2f)%n", median(cpu),
                Arrays.stream(cpu).min().orElse(0));
        System.out.printf("step median %.2f ms (min %.2f) | forward+backward %.2f | zero+clip %.2f | adamw %.2f%n",
                median(phase[0]), Arrays.stream(phase[0]).min().orElse(0), median(phase[1]), median(phase[2]),
                median(phase[3]));
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
