package quill.model;

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
import quill.autograd.Ops;
import quill.autograd.Tensor;
import quill.bench.BenchSupport;
import quill.bench.StepBenchmark;

import java.util.concurrent.TimeUnit;

/**
 * The model's own {@code CausalSelfAttention} (c_attn, the heads, softmax, c_proj) at shakespeare_char_cpu's
 * size, forward and forward plus backward. It sits in package quill.model (in the train module's test
 * sources) because the layer is package-private.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "-Xmx2g")
public class AttentionBench {

    @Param({"1"})
    public int threads;

    private CausalSelfAttention attn;
    private INDArray x;                     // (B, T, C), the output of ln_1

    @Setup(Level.Trial)
    public void setUp() {
        StepBenchmark.setThreads(threads);
        GptConfig config = new GptConfig(BenchSupport.VOCAB, BenchSupport.T, 4, BenchSupport.N_HEAD, BenchSupport.C,
                0.0, false);
        attn = new CausalSelfAttention("transformer.h.0.attn", config, DataType.FLOAT);
        for (quill.autograd.Parameter p : attn.parameters()) p.value().assign(
                Nd4j.randn(DataType.FLOAT, p.shape()).muli(0.02));
        x = Nd4j.randn(DataType.FLOAT, BenchSupport.B, BenchSupport.T, BenchSupport.C);
    }

    @Benchmark
    public float forward() {
        try (MemoryWorkspace ws = BenchSupport.stepWorkspace()) {
            return attn.forward(Tensor.variable(x), null, null).value().getFloat(0);
        }
    }

    @Benchmark
    public double forwardBackward() {
        try (MemoryWorkspace ws = BenchSupport.stepWorkspace()) {
            Tensor loss = Ops.sum(attn.forward(Tensor.variable(x), null, null));
            loss.backward();
            return loss.value().getDouble(0);
        }
    }
}
