package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import quill.autograd.Nn;
import quill.autograd.Parameter;
import quill.autograd.Tensor;


/** nn.Embedding: a table of vectors, one row per id; made with zeros, {@link Gpt} draws the initial values. */
final class Embedding {
    final Parameter weight;

    Embedding(String name, int rows, int dim, DataType type) {
        this.weight = new Parameter(name + ".weight", Init.zeros(type, rows, dim));
    }

    Tensor forward(int[][] ids) {
        return Nn.embedding(weight, ids);                   // (B, T) -> (B, T, C)
    }
}
