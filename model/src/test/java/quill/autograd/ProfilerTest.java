package quill.autograd;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ProfilerTest {

    /** Training's worker threads record ops at the same time: every call is counted, none lost to a race. */
    @Test
    void countsEveryOpOfEveryThread() throws Exception {
        int threads = 4, ops = 2000;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        Profiler.start();
        try {
            List<Future<?>> done = new java.util.ArrayList<>();
            for (int k = 0; k < threads; k++) {
                done.add(pool.submit(() -> {
                    Tensor x = Tensor.variable(Nd4j.ones(2, 2));
                    Profiler.mark();
                    for (int i = 0; i < ops; i++) Ops.scale(x, 2.0);
                }));
            }
            for (Future<?> f : done) f.get();
        } finally {
            pool.shutdownNow();
        }
        List<Profiler.Entry> entries = Profiler.stop();
        Profiler.Entry scale = entries.stream().filter(e -> e.op().equals("scale")).findFirst().orElseThrow();
        assertEquals((long) threads * ops, scale.calls());
    }
}
