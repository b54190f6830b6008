package quill.optim;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import quill.autograd.GradAssert;
import quill.runtime.Parallel;
import quill.autograd.Parameter;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Muon updates its matrices on several threads at once: the weights come out the same, bit for bit, as on one. */
class MuonThreadsTest {

    /** Three steps of Muon over a block's four matrices and a second block's, on {@code threads} threads. */
    private static List<INDArray> weightsAfterSteps(int threads) {
        long[][] shapes = {{384, 128}, {128, 128}, {512, 128}, {128, 512}};
        List<Parameter> params = new ArrayList<>();
        for (int layer = 0; layer < 2; layer++) {
            for (int k = 0; k < shapes.length; k++) {
                params.add(new Parameter("transformer.h." + layer + ".w" + k,
                        GradAssert.random(10 * layer + k, shapes[k]).castTo(DataType.FLOAT)));
            }
        }
        Muon muon = new Muon(params, 0.95, true, 5, 0.01);
        for (int step = 0; step < 3; step++) {
            for (int i = 0; i < params.size(); i++) {
                params.get(i).grad().assign(GradAssert.random(100 * step + i, params.get(i).shape()));
            }
            Parallel.withThreads(threads, () -> muon.step(0.02));
        }
        return params.stream().map(p -> p.value().dup()).toList();
    }

    @Test
    void twoThreadsGiveTheWeightsOfOne() {
        List<INDArray> one = weightsAfterSteps(1), two = weightsAfterSteps(2);
        for (int i = 0; i < one.size(); i++) {
            assertEquals(0.0, one.get(i).sub(two.get(i)).amaxNumber().doubleValue(), "matrix " + i);
        }
    }
}
