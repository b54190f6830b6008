package quill.bench;

import org.nd4j.linalg.api.buffer.DataType;
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

import java.util.concurrent.TimeUnit;

/**
 * The matrix products of every Linear layer of shakespeare_char_cpu, (B*T = 768 rows), exactly as
 * {@code Nn.linear} calls them: the forward {@code y = x W^T}, and in backward {@code dx = g W} and
 * {@code dW += g^T x} (beta 1: accumulated into the gradient), W in PyTorch's [out, in] layout.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "-Xmx2g")
public class GemmBench {

    /** in->out: c_attn 128->384, attn.c_proj 128->128, mlp.c_fc 128->512, mlp.c_proj 512->128, lm_head 128->65. */
    @Param({"128x384", "128x128", "128x512", "512x128", "128x65"})
    public String inOut;

    @Param({"1"})
    public int threads;

    private INDArray x, w, y, g, dx, dw;

    @Setup(Level.Trial)
    public void setUp() {
        StepBenchmark.setThreads(threads);
        String[] io = inOut.split("x");
        int in = Integer.parseInt(io[0]), out = Integer.parseInt(io[1]);
        x = Nd4j.rand(DataType.FLOAT, BenchSupport.ROWS, in);
        w = Nd4j.rand(DataType.FLOAT, out, in).subi(0.5);
        y = Nd4j.create(DataType.FLOAT, BenchSupport.ROWS, out);
        g = Nd4j.rand(DataType.FLOAT, BenchSupport.ROWS, out).subi(0.5);
        dx = Nd4j.create(DataType.FLOAT, BenchSupport.ROWS, in);
        dw = Nd4j.create(DataType.FLOAT, out, in);
    }

    @Benchmark
    public INDArray forward() {
        return Nd4j.gemm(x, w, y, false, true, 1.0, 0.0);       // y = x W^T
    }

    @Benchmark
    public INDArray backwardInput() {
        return Nd4j.gemm(g, w, dx, false, false, 1.0, 0.0);     // dx = g W
    }

    @Benchmark
    public INDArray backwardWeight() {
        return Nd4j.gemm(g, x, dw, true, false, 1.0, 1.0);      // dW += g^T x
    }
}
