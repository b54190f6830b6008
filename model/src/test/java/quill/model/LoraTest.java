package quill.model;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import quill.autograd.GradAssert;
import quill.autograd.GradCheck;
import quill.autograd.Nn;
import quill.autograd.Parameter;
import quill.random.TorchGenerator;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LoraTest {
    /** Every target, on a model whose lm_head is its own (so it can take an adapter too). */
    private static final LoraConfig ALL = new LoraConfig(2, 4, 0, List.of("c_attn", "c_proj", "c_fc", "lm_head"));
    private static final Architecture UNTIED = new Architecture(Architecture.NormType.LAYERNORM,
            Architecture.PosType.LEARNED, 10000, Architecture.MlpType.GELU, 0, false, false, 0);

    private static Gpt adapted(DataType type, LoraConfig lora) {
        Gpt model = Gpt.inPrecision(GptTest.TINY.with(UNTIED), 3, type);
        model.addLora(lora, new TorchGenerator(5));
        return model;
    }

    /** B, zero at first, made random so that every adapter changes the output (and A gets a gradient). */
    private static void randomiseB(Gpt model) {
        Nd4j.getRandom().setSeed(11);
        model.adapters().forEach((name, p) -> {
            if (name.contains("lora_B")) p.value().assign(Nd4j.randn(p.dataType(), p.shape()).muli(0.5));
        });
    }

    @Test
    void startsAsExactlyTheBaseModel() {
        Gpt base = new Gpt(GptTest.TINY.with(UNTIED), 3);
        Gpt model = adapted(DataType.FLOAT, ALL);
        assertEquals(base.forward(GptTest.X).value(), model.forward(GptTest.X).value());
        INDArray a = model.adapters().get("transformer.h.0.attn.c_attn.lora_A.weight").value();
        assertArrayEquals(new long[]{2, 4}, a.shape());                        // (R, in)
        assertTrue(a.amaxNumber().doubleValue() <= 1 / Math.sqrt(4) && a.amaxNumber().doubleValue() > 0.1);
        assertArrayEquals(new long[]{12, 2}, model.adapters().get("transformer.h.0.attn.c_attn.lora_B.weight").shape());
    }

    @Test
    void onlyTheAdaptersAreTrainedAndGetGradients() {
        Gpt model = adapted(DataType.FLOAT, new LoraConfig(2, 8, 0, List.of("c_attn")));
        assertEquals(List.of("transformer.h.0.attn.c_attn.lora_A.weight", "transformer.h.0.attn.c_attn.lora_B.weight",
                "transformer.h.1.attn.c_attn.lora_A.weight", "transformer.h.1.attn.c_attn.lora_B.weight"),
                List.copyOf(model.trainable().keySet()));
        model.forwardBackward(GptTest.X, GptTest.Y, 1);
        for (Parameter p : model.parameters().values()) {
            assertEquals(0, p.grad().amaxNumber().doubleValue(), p.name() + " is frozen: no gradient");
        }
        Parameter b0 = model.adapters().get("transformer.h.0.attn.c_attn.lora_B.weight");
        assertTrue(b0.grad().amaxNumber().doubleValue() > 0, "the adapters get gradients");
        model.mergeLora();
        assertEquals(model.parameters().keySet(), model.trainable().keySet(), "merged: a plain model again");
    }

    @Test
    void gradientsOfEveryAdapterMatchFiniteDifferences() {
        Gpt model = adapted(DataType.DOUBLE, ALL);
        randomiseB(model);
        double error = GradCheck.maxRelativeError(() -> Nn.crossEntropy(model.forward(GptTest.X), GptTest.Y),
                model.adapters().values());
        assertTrue(error <= GradAssert.TOLERANCE, "LoRA gradient off by " + error);
    }

    @Test
    void mergedWeightsGiveTheAdaptedLogits() {
        for (DataType type : new DataType[]{DataType.FLOAT, DataType.DOUBLE}) {
            Gpt model = adapted(type, ALL);
            randomiseB(model);
            model.setTraining(false);
            INDArray adapted = model.forward(GptTest.X).value().dup();
            Gpt replica = model.replica();
            assertEquals(adapted, replica.forward(GptTest.X).value(), "a worker's replica carries the adapters");
            model.mergeLora();
            INDArray merged = model.forward(GptTest.X).value();
            double scale = adapted.amaxNumber().doubleValue();
            double tolerance = type == DataType.FLOAT ? 1e-5 : 1e-12;
            assertTrue(adapted.sub(merged).amaxNumber().doubleValue() <= tolerance * scale, type + ": merged differs");
            assertFalse(adapted.equals(Gpt.inPrecision(GptTest.TINY.with(UNTIED), 3, type).forward(GptTest.X).value()),
                    "the adapters changed the model");
        }
    }

    @Test
    void badSettingsAreRefusedWithTheReason() {
        assertEquals("lora-rank must be at least 1, got 0", assertThrows(IllegalArgumentException.class,
                () -> new LoraConfig(0, 8, 0, List.of("c_attn"))).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new LoraConfig(2, 8, 0, List.of("q_proj")))
                .getMessage().startsWith("unknown lora target 'q_proj': the layers that take an adapter are"
                        + " attn.c_attn"));
        Gpt model = new Gpt(GptTest.TINY, 3);
        Map<String, Parameter> before = Map.copyOf(model.trainable());
        assertEquals("lora-rank 5 is larger than layer transformer.h.0.attn.c_attn allows (4, the smaller side of its"
                + " weight): a rank-4 adapter already spans the whole matrix; use a rank of at most 4",
                assertThrows(IllegalArgumentException.class,
                        () -> model.addLora(new LoraConfig(5, 8, 0, List.of("c_attn")), null)).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> model.addLora(new LoraConfig(2, 8, 0, List.of("lm_head")), null)).getMessage()
                .startsWith("lm_head is tied to transformer.wte"));
        assertEquals(before.keySet(), model.trainable().keySet(), "a refused adapter changes nothing");
        assertEquals(List.of("c_attn", "mlp.c_proj"), LoraConfig.parseTargets(" c_attn, MLP.c_proj ,"));
    }
}
