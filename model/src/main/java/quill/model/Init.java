package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Initial values that draw nothing: zero weights (until {@link Gpt} draws them) and biases, unit norm gains. */
final class Init {
    private Init() {
    }

    static INDArray zeros(DataType type, long... shape) {
        return Nd4j.zeros(type, shape);
    }

    static INDArray ones(DataType type, long... shape) {
        return Nd4j.ones(type, shape);
    }
}
