package quill.bench;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
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
import quill.autograd.Nn;
import quill.autograd.Ops;
import quill.autograd.Parameter;
import quill.autograd.Tensor;

import java.util.concurrent.TimeUnit;

import static quill.bench.BenchSupport.B;
import static quill.bench.BenchSupport.C;
import static quill.bench.BenchSupport.N_HEAD;
import static quill.bench.BenchSupport.T;
import static quill.bench.BenchSupport.VOCAB;

/**
 * The model's own fused ops ({@link Nn}) at shakespeare_char_cpu's sizes, forward alone and forward plus
 * backward, each invocation in a step workspace as in training. The backward is driven through the tape
 * from {@code Ops.sum(out)}, which adds one sum and one fill to the op's own work.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "-Xmx2g")
public class OpsBench {

    @Param({"1"})
    public int threads;

    // values; each invocation wraps them in a fresh tape leaf, whose gradient lives in that invocation's workspace
    private INDArray resid;         // (B, T, C), the residual stream
    private Parameter lnWeight;     // (C)
    private INDArray fc;            // (B, T, 4C), the MLP's expansion
    private INDArray scores;        // (B, nh, T, T), attention scores
    private INDArray logits;        // (B, T, V)
    private int[][] targets;

    @Setup(Level.Trial)
    public void setUp() {
        StepBenchmark.setThreads(threads);
        resid = Nd4j.randn(DataType.FLOAT, B, T, C);
        lnWeight = new Parameter("ln.weight", Nd4j.ones(DataType.FLOAT, C));
        fc = Nd4j.randn(DataType.FLOAT, B, T, 4 * C);
        scores = Nd4j.randn(DataType.FLOAT, B, N_HEAD, T, T);
        logits = Nd4j.randn(DataType.FLOAT, B, T, VOCAB);
        targets = new int[B][T];
        java.util.Random r = new java.util.Random(1);
        for (int[] row : targets) for (int t = 0; t < T; t++) row[t] = r.nextInt(VOCAB);
    }

    private static double backward(Tensor out) {
        Tensor loss = out.value().length() == 1 ? out : Ops.sum(out);
        loss.backward();
        return loss.value().getDouble(0);
    }

    @Benchmark
    public Object layerNormForward() {
        try (MemoryWorkspace ws = BenchSupport.stepWorkspace()) {
            return Nn.layerNorm(Tensor.variable(resid), lnWeight, null, Nn.LAYER_NORM_EPS).value().getFloat(0);
        }
    }

    @Benchmark
    public double layerNormForwardBackward() {
        try (MemoryWorkspace ws = BenchSupport.stepWorkspace()) {
            return backward(Nn.layerNorm(Tensor.variable(resid), lnWeight, null, Nn.LAYER_NORM_EPS));
        }
    }

    @Benchmark
    public Object geluForward() {
        try (MemoryWorkspace ws = BenchSupport.stepWorkspace()) {
            return Nn.gelu(Tensor.variable(fc)).value().getFloat(0);
        }
    }

    @Benchmark
    public double geluForwardBackward() {
        try (MemoryWorkspace ws = BenchSupport.stepWorkspace()) {
            return backward(Nn.gelu(Tensor.variable(fc)));
        }
    }

    @Benchmark
    public Object softmaxForward() {
        try (MemoryWorkspace ws = BenchSupport.stepWorkspace()) {
            return Nn.softmax(Tensor.variable(scores)).value().getFloat(0);
        }
    }

    @Benchmark
    public double softmaxForwardBackward() {
        try (MemoryWorkspace ws = BenchSupport.stepWorkspace()) {
            return backward(Nn.softmax(Tensor.variable(scores)));
        }
    }

    @Benchmark
    public double crossEntropyForward() {
        try (MemoryWorkspace ws = BenchSupport.stepWorkspace()) {
            return Nn.crossEntropy(Tensor.variable(logits), targets).value().getDouble(0);
        }
    }

    @Benchmark
    public double crossEntropyForwardBackward() {
        try (MemoryWorkspace ws = BenchSupport.stepWorkspace()) {
            return backward(Nn.crossEntropy(Tensor.variable(logits), targets));
        }
    }
}
