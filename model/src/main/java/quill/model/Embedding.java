package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import quill.autograd.Nn;
import quill.autograd.Parameter;
import quill.autograd.Tensor;

import java.util.Random;

/** nn.Embedding: a table of vectors, one row per id. */
final class Embedding {
    final Parameter weight;

    Embedding(String name, int rows, int dim, Random init, DataType type) {
        this.weight = new Parameter(name + ".weight", Init.normal(init, 0.02, type, rows, dim));
    }

    Tensor forward(int[][] ids) {
        return Nn.embedding(weight, ids);                   // (B, T) -> (B, T, C)
    }
}
