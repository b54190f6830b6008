package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

/** nanoGPT's initial values: normal(0, std) weights, zero biases, unit LayerNorm gains. */
final class Init {
    private Init() {
    }

    /** Normal(0, std) values drawn from {@code rng} in c order, so a seed gives the same model everywhere. */
    static INDArray normal(Random rng, double std, DataType type, long... shape) {
        long n = 1;
        for (long s : shape) n *= s;
        double[] v = new double[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = std * rng.nextGaussian();
        return Nd4j.create(v, shape, type);
    }

    static INDArray zeros(DataType type, long... shape) {
        return Nd4j.zeros(type, shape);
    }

    static INDArray ones(DataType type, long... shape) {
        return Nd4j.ones(type, shape);
    }
}
