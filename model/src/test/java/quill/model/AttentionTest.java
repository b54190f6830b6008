package quill.model;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import quill.autograd.Ops;
import quill.autograd.Parameter;
import quill.random.Rng;
import quill.autograd.Tensor;


import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The fused attention op against the readable one: nanoGPT's attention written with the tape's small ops. */
class AttentionTest {

    @Test
    void fusedMatchesComposedWithAndWithoutDropout() {
        for (double dropout : new double[]{0.0, 0.2}) {
            for (boolean bias : new boolean[]{true, false}) {
                GptConfig config = new GptConfig(11, 8, 1, 3, 12, dropout, bias);
                CausalSelfAttention attn = new CausalSelfAttention("attn", config, DataType.DOUBLE);
                long seed = 3;
                for (Parameter p : attn.parameters()) p.value().assign(GradCheckData.random(seed++,
                        p.shape()).muli(0.3));
                INDArray input = GradCheckData.random(5, 2, 6, 12);
                INDArray r = GradCheckData.random(6, 2, 6, 12);

                Tensor x1 = Tensor.variable(input.dup());
                attn.readable = false;
                Tensor out1 = attn.forward(x1, new Rng(9), null);
                Ops.sum(Ops.mul(out1, Tensor.constant(r))).backward();
                INDArray weights = attn.weights.copy();
                java.util.Map<String, INDArray> grads1 = new java.util.HashMap<>();
                for (Parameter p : attn.parameters()) {
                    grads1.put(p.name(), p.grad().dup());
                    p.zeroGrad();
                }

                Tensor x2 = Tensor.variable(input.dup());
                attn.readable = true;
                Tensor out2 = attn.forward(x2, new Rng(9), null);
                Ops.sum(Ops.mul(out2, Tensor.constant(r))).backward();
                close("readable weights", attn.weights.copy(), weights);

                String what = "dropout " + dropout + ", bias " + bias;
                close(what + " output", out2.value(), out1.value());
                close(what + " dx", x2.grad(), x1.grad());
                for (Parameter p : attn.parameters()) close(what + " d" + p.name(), p.grad(), grads1.get(p.name()));
                attn.readable = false;
                // the weights read out are softmax rows: causal, summing to 1
                assertEquals(0.0, weights.get(org.nd4j.linalg.indexing.NDArrayIndex.all(),
                        org.nd4j.linalg.indexing.NDArrayIndex.all(),
                        org.nd4j.linalg.indexing.NDArrayIndex.point(1),
                        org.nd4j.linalg.indexing.NDArrayIndex.interval(2, 6)).amaxNumber().doubleValue());
                assertEquals(2 * 3 * 6, weights.sumNumber().doubleValue(), 1e-9);
            }
        }
    }

    static void close(String what, INDArray expected, INDArray actual) {
        double scale = Math.max(1e-12, expected.amaxNumber().doubleValue());
        double err = expected.sub(actual).amaxNumber().doubleValue();
        assertTrue(err <= 1e-10 * scale, what + ": off by " + err + " (largest magnitude " + scale + ")");
    }
}
