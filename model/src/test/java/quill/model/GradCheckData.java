package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

/** Reproducible random double arrays for the model's tests. */
public final class GradCheckData {
    private GradCheckData() {
    }

    public static INDArray random(long seed, long... shape) {
        Random r = new Random(seed);
        long n = 1;
        for (long s : shape) n *= s;
        double[] d = new double[(int) n];
        for (int i = 0; i < d.length; i++) d[i] = 2 * r.nextDouble() - 1;
        return Nd4j.create(d, shape, DataType.DOUBLE);
    }
}
