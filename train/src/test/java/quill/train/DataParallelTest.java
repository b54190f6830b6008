package quill.train;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import quill.runtime.Parallel;
import quill.autograd.Parameter;
import quill.runtime.Backend;
import quill.model.Gpt;
import quill.model.GptConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DataParallelTest {
    private static final GptConfig CONFIG = new GptConfig(11, 8, 2, 2, 16, 0.0, true);

    private static int[][] ids(Random r, int rows) {
        int[][] a = new int[rows][CONFIG.blockSize()];
        for (int[] row : a) for (int t = 0; t < row.length; t++) row[t] = r.nextInt(CONFIG.vocabSize());
        return a;
    }

    private static Map<String, INDArray> grads(Gpt model) {
        Map<String, INDArray> g = new java.util.LinkedHashMap<>();
        model.parameters().forEach((name, p) -> g.put(name, p.grad().dup()));
        return g;
    }

    /**
     * Rows split 3 + 2 + 2 over three workers give the whole batch's loss and gradient
     * (float64, so only rounding differs).
     */
    @Test
    void workersSumToTheWholeBatchsGradient() {
        Random r = new Random(3);
        int[][] x = ids(r, 7), y = ids(r, 7);
        Gpt alone = Gpt.inPrecision(CONFIG, 5, DataType.DOUBLE);
        double expectedLoss = alone.forwardBackward(x, y, 0.5);

        Gpt shared = Gpt.inPrecision(CONFIG, 5, DataType.DOUBLE);
        try (DataParallel workers = new DataParallel(shared, 3)) {
            double loss = workers.forwardBackward(x, y, 0.5);
            assertEquals(expectedLoss, loss, 1e-12);
            Map<String, INDArray> expected = grads(alone);
            grads(shared).forEach((name, g) -> {
                double scale = expected.get(name).norm2Number().doubleValue();
                double diff = g.sub(expected.get(name)).norm2Number().doubleValue();
                assertTrue(diff <= 1e-10 * Math.max(scale, 1e-12),
                        name + ": differs by " + diff + " (norm " + scale + ")");
            });
        }
    }

    /**
     * After an optimizer-like change of the weights, the replicas use the new weights,
     * and their gradients start at zero.
     */
    @Test
    void replicasFollowTheModelsWeights() {
        Random r = new Random(4);
        int[][] x = ids(r, 4), y = ids(r, 4);
        Gpt a = Gpt.inPrecision(CONFIG, 5, DataType.DOUBLE);
        Gpt b = Gpt.inPrecision(CONFIG, 5, DataType.DOUBLE);
        try (DataParallel workers = new DataParallel(b, 2)) {
            workers.forwardBackward(x, y, 1.0);
            for (Parameter p : List.of(a.parameters().values().iterator().next(),
                    b.parameters().values().iterator().next())) {
                p.value().muli(1.5);
            }
            a.parameters().values().forEach(Parameter::zeroGrad);
            b.parameters().values().forEach(Parameter::zeroGrad);
            assertEquals(a.forwardBackward(x, y, 1.0), workers.forwardBackward(x, y, 1.0), 1e-12);
        }
    }

    /** Each eval batch is computed whole by one worker: the losses are those of the model alone, bit for bit. */
    @Test
    void lossesAreTheModelsOwn() {
        Random r = new Random(5);
        List<int[][]> xs = new ArrayList<>(), ys = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            xs.add(ids(r, 3));
            ys.add(ids(r, 3));
        }
        Gpt model = new Gpt(CONFIG, 6);
        try (DataParallel workers = new DataParallel(model, 2)) {
            double[] losses = workers.losses(xs, ys);
            for (int i = 0; i < 5; i++) assertEquals(model.loss(xs.get(i), ys.get(i)), losses[i], 0.0);
        }
    }

    /** With dropout on, two runs from the same state draw the same masks: the result does not depend on timing. */
    @Test
    void dropoutIsRepeatable() {
        GptConfig dropout = new GptConfig(11, 8, 1, 2, 16, 0.3, false);
        Random r = new Random(6);
        int[][] x = ids(r, 5), y = ids(r, 5);
        double[] losses = new double[2];
        for (int run = 0; run < 2; run++) {
            Gpt model = new Gpt(dropout, 7);
            try (DataParallel workers = new DataParallel(model, 2)) {
                losses[run] = workers.forwardBackward(x, y, 1.0) + workers.forwardBackward(x, y, 1.0);
            }
        }
        assertEquals(losses[0], losses[1], 0.0);
    }

    @Test
    void moreWorkersThanRowsStillWork() {
        Random r = new Random(7);
        int[][] x = ids(r, 2), y = ids(r, 2);
        Gpt alone = Gpt.inPrecision(CONFIG, 8, DataType.DOUBLE);
        Gpt shared = Gpt.inPrecision(CONFIG, 8, DataType.DOUBLE);
        try (DataParallel workers = new DataParallel(shared, 4)) {
            assertEquals(alone.forwardBackward(x, y, 1.0), workers.forwardBackward(x, y, 1.0), 1e-12);
        }
        assertThrows(IllegalArgumentException.class, () -> new DataParallel(shared, 0));
    }

    @Test
    void aWorkersFailureReachesTheCaller() {
        Gpt model = new Gpt(CONFIG, 9);
        int[][] bad = new int[4][CONFIG.blockSize()];
        bad[3][0] = 99;                                   // outside the vocabulary, in the second worker's rows
        try (DataParallel workers = new DataParallel(model, 2)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> workers.forwardBackward(bad, new int[4][CONFIG.blockSize()], 1.0));
            assertTrue(e.getMessage().contains("99"), e.getMessage());
        }
    }

    @Test
    void closingGivesTheCallerItsThreadsBack() {
        Backend.setThreads(2);
        try {
            try (DataParallel workers = new DataParallel(new Gpt(CONFIG, 10), 2)) {
                assertEquals(1, Backend.threads());       // each worker on one thread while training
            }
            assertEquals(2, Backend.threads());
            assertEquals(2, Parallel.threads());
        } finally {
            Backend.setThreads(Runtime.getRuntime().availableProcessors());
        }
    }
}
