package quill.model;

import quill.io.Npy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import quill.autograd.GradAssert;
import quill.autograd.GradCheck;
import quill.autograd.Nn;
import quill.autograd.Parameter;
import quill.autograd.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GptTest {
    static final GptConfig TINY = new GptConfig(7, 5, 2, 2, 4, 0.0, true);
    static final int[][] X = {{1, 2, 3, 1}, {6, 0, 0, 2}};
    static final int[][] Y = {{2, 3, 1, 5}, {0, 0, 2, -1}};

    @Test
    void configSaysWhatIsWrong() {
        assertEquals("nEmbd (10) must be divisible by nHead (4): each head gets nEmbd / nHead channels",
                assertThrows(IllegalArgumentException.class,
                () -> new GptConfig(65, 8, 1, 4, 10, 0, true)).getMessage());
        assertEquals("vocabSize must be positive, got 0",
                assertThrows(IllegalArgumentException.class, () -> new GptConfig(0, 8, 1, 1, 8, 0, true)).getMessage());
        assertEquals("dropout must be in [0, 1), got 1.0",
                assertThrows(IllegalArgumentException.class,
                () -> new GptConfig(65, 8, 1, 1, 8, 1.0, true)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> new GptConfig(65, 8, 1, 1, 8, Double.NaN, true));
        assertThrows(IllegalArgumentException.class, () -> new GptConfig(65, -8, 1, 1, 8, 0, true));
    }

    @Test
    void parametersCarryNanoGptNamesAndShapes() {
        Map<String, Parameter> p = new Gpt(new GptConfig(65, 32, 2, 4, 32, 0, true), 1).parameters();
        assertEquals(List.of("transformer.wte.weight", "transformer.wpe.weight",
                "transformer.h.0.ln_1.weight", "transformer.h.0.ln_1.bias",
                "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_attn.bias",
                "transformer.h.0.attn.c_proj.weight", "transformer.h.0.attn.c_proj.bias",
                "transformer.h.0.ln_2.weight", "transformer.h.0.ln_2.bias",
                "transformer.h.0.mlp.c_fc.weight", "transformer.h.0.mlp.c_fc.bias",
                "transformer.h.0.mlp.c_proj.weight", "transformer.h.0.mlp.c_proj.bias"),
                List.copyOf(p.keySet()).subList(0, 14));
        assertEquals(2 + 2 * 12 + 2, p.size());
        assertArrayEquals(new long[]{96, 32}, p.get("transformer.h.1.attn.c_attn.weight").shape());
        assertArrayEquals(new long[]{32, 128}, p.get("transformer.h.1.mlp.c_proj.weight").shape());
        assertEquals(DataType.FLOAT, p.get("transformer.wte.weight").dataType());
    }

    @Test
    void biasFalseHasNoBiasTensors() {
        Map<String, Parameter> p = new Gpt(new GptConfig(65, 32, 2, 4, 32, 0, false), 1).parameters();
        assertTrue(p.keySet().stream().noneMatch(n -> n.contains("bias")), p.keySet().toString());
        assertEquals(2 + 2 * 6 + 1, p.size());
    }

    @Test
    void initialisedAsNanoGpt() {
        Gpt gpt = new Gpt(new GptConfig(65, 64, 4, 4, 128, 0, true), 7);
        Map<String, Parameter> p = gpt.parameters();
        assertEquals(0.02, std(p.get("transformer.wte.weight").value()), 0.002);
        assertEquals(0.02, std(p.get("transformer.h.0.mlp.c_fc.weight").value()), 0.001);
        assertEquals(0.02 / Math.sqrt(8), std(p.get("transformer.h.3.attn.c_proj.weight").value()), 0.0005);
        assertEquals(0.02 / Math.sqrt(8), std(p.get("transformer.h.3.mlp.c_proj.weight").value()), 0.0005);
        assertEquals(0.0, p.get("transformer.h.0.attn.c_attn.bias").value().amaxNumber().doubleValue());
        assertEquals(1.0, p.get("transformer.ln_f.weight").value().minNumber().doubleValue());
        assertEquals(p.get("transformer.wte.weight").value(),
                new Gpt(gpt.config(), 7).parameters().get("transformer.wte.weight").value());
        assertNotEquals(p.get("transformer.wte.weight").value(),
                new Gpt(gpt.config(), 8).parameters().get("transformer.wte.weight").value());
    }

    /** The whole model's backward pass against finite differences of its loss, dropout included. */
    @Test
    void wholeModelGradientMatchesFiniteDifferences() {
        for (GptConfig config : List.of(TINY, new GptConfig(7, 5, 1, 2, 4, 0.25, false))) {
            Gpt gpt = Gpt.inPrecision(config, 3, DataType.DOUBLE);
            long state = gpt.dropoutState();
            double error = GradCheck.maxRelativeError(() -> {
                gpt.setDropoutState(state);                   // the same dropout masks in every pass
                return Nn.crossEntropy(gpt.forward(X), Y);
            }, gpt.parameters().values());
            assertTrue(error <= GradAssert.TOLERANCE, config + ": gradient off by " + error + " relative");
        }
    }

    @Test
    void forwardBackwardAddsScaledGradientsAndMatchesTheTape() {
        Gpt gpt = Gpt.inPrecision(TINY, 5, DataType.DOUBLE);
        double loss = gpt.forwardBackward(X, Y, 1.0);
        Map<String, INDArray> once = snapshotGrads(gpt);
        gpt.forwardBackward(X, Y, 0.5);
        for (Parameter p : gpt.parameters().values()) {
            assertTrue(p.grad().equalsWithEps(once.get(p.name()).mul(1.5), 1e-12), p.name());
        }
        gpt.parameters().values().forEach(Parameter::zeroGrad);
        Tensor tapeLoss = Nn.crossEntropy(gpt.forward(X), Y);
        tapeLoss.backward();
        assertEquals(tapeLoss.value().getDouble(0), loss, 1e-12);
        assertEquals(loss, gpt.loss(X, Y), 1e-12);
        for (Parameter p : gpt.parameters().values()) assertTrue(p.grad().equalsWithEps(once.get(p.name()), 1e-12),
                p.name());
    }

    /** setReadable runs nanoGPT's lines op by op: the same loss and gradients as the fused ops, with dropout too. */
    @Test
    void theReadableModelComputesWhatTheFusedOneDoes() {
        for (GptConfig config : List.of(TINY, new GptConfig(7, 5, 2, 2, 4, 0.2, false))) {
            Gpt fused = Gpt.inPrecision(config, 5, DataType.DOUBLE);
            Gpt readable = Gpt.inPrecision(config, 5, DataType.DOUBLE);
            readable.setReadable(true);
            double loss = fused.forwardBackward(X, Y, 1.0);
            assertEquals(loss, readable.forwardBackward(X, Y, 1.0), 1e-12 * loss);
            for (Parameter p : fused.parameters().values()) {
                INDArray other = readable.parameters().get(p.name()).grad();
                double scale = p.grad().amaxNumber().doubleValue();
                assertTrue(p.grad().sub(other).amaxNumber().doubleValue() <= 1e-10 * scale, p.name());
            }
            assertTrue(fused.attention(1).equalsWithEps(readable.attention(1), 1e-12));
            assertEquals(fused.loss(X, Y), readable.loss(X, Y), 1e-12 * loss);
        }
    }

    @Test
    void nextTokenLogitsAreTheLastPositionsLogits() {
        Gpt gpt = new Gpt(TINY, 5);
        int[] context = {3, 1, 4, 1, 5, 6, 2};                       // longer than blockSize 5: cropped
        INDArray logits = gpt.forward(new int[][]{{4, 1, 5, 6, 2}}).value();
        float[] next = gpt.nextTokenLogits(context);
        assertEquals(7, next.length);
        for (int v = 0; v < 7; v++) assertEquals(logits.getDouble(0, 4, v), next[v], 1e-5);
    }

    @Test
    void attentionWeightsOfTheLastForward() {
        Gpt gpt = new Gpt(TINY, 5);
        gpt.loss(X, Y);
        INDArray att = gpt.attention(1);
        assertArrayEquals(new long[]{2, 2, 4, 4}, att.shape());
        assertEquals(0.0, att.getDouble(1, 0, 0, 1));                  // position 0 cannot see position 1
        assertEquals(1.0, att.getDouble(1, 0, 0, 0), 1e-6);
        assertEquals(2 * 2 * 4, att.sumNumber().doubleValue(), 1e-4);
        gpt.nextTokenLogits(new int[]{1, 2});
        assertArrayEquals(new long[]{1, 2, 2, 2}, gpt.attention(0).shape());
        assertThrows(IllegalArgumentException.class, () -> gpt.attention(2));
    }

    @Test
    void dropoutIsSeededAndResumable() {
        GptConfig config = new GptConfig(7, 5, 1, 2, 4, 0.3, true);
        Gpt a = new Gpt(config, 5), b = new Gpt(config, 5);
        a.forwardBackward(X, Y, 1.0);
        long state = a.dropoutState();
        double next = a.forwardBackward(X, Y, 1.0);
        b.setDropoutState(state);
        assertEquals(next, b.forwardBackward(X, Y, 1.0));
        a.setTraining(false);
        assertEquals(a.loss(X, Y), a.forwardBackward(X, Y, 1.0), 1e-6);  // eval: no dropout
        assertEquals(a.dropoutState(), a.dropoutState());
    }

    @Test
    void badInputIsRefused() {
        Gpt gpt = new Gpt(TINY, 5);
        assertThrows(IllegalArgumentException.class,
                () -> gpt.loss(new int[][]{{1, 2, 3, 4, 5, 6}}, new int[][]{{1, 2, 3, 4, 5, 6}}));
        assertThrows(IllegalArgumentException.class, () -> gpt.loss(new int[][]{{7}}, new int[][]{{1}}));
        assertThrows(IllegalArgumentException.class, () -> gpt.loss(new int[][]{{1, 2}}, new int[][]{{1}}));
    }

    @Test
    void saveLoadRoundTripsAsNumpyFiles(@TempDir Path dir) throws IOException {
        Gpt a = new Gpt(TINY, 1), b = new Gpt(TINY, 2);
        a.save(dir);
        assertEquals(a.parameters().size(), Files.list(dir).count());
        byte[] head = Files.readAllBytes(dir.resolve("transformer.h.0.attn.c_attn.weight.npy"));
        String header = new String(head, 0, 80, java.nio.charset.StandardCharsets.ISO_8859_1);
        assertTrue(header.startsWith("\u0093NUMPY") && header.contains("'descr': '<f4'")
                && header.contains("'shape': (12, 4)"), header);
        b.load(dir);
        for (String name : a.parameters().keySet()) {
            assertEquals(a.parameters().get(name).value(), b.parameters().get(name).value(), name);
        }
    }

    @Test
    void loadNamesTheBadFileAndChangesNothing(@TempDir Path dir) throws IOException {
        Gpt a = new Gpt(TINY, 1);
        a.save(dir);
        Gpt b = new Gpt(TINY, 2);
        INDArray before = b.parameters().get("transformer.wte.weight").value().dup();
        Files.delete(dir.resolve("transformer.h.1.ln_2.bias.npy"));
        IOException missing = assertThrows(IOException.class, () -> b.load(dir));
        assertTrue(missing.getMessage().contains("transformer.h.1.ln_2.bias.npy"), missing.getMessage());
        assertEquals(before, b.parameters().get("transformer.wte.weight").value());

        Npy.write(Nd4j.zeros(DataType.FLOAT, 3), dir.resolve("transformer.h.1.ln_2.bias.npy"));
        IOException shape = assertThrows(IOException.class, () -> b.load(dir));
        assertTrue(shape.getMessage().contains("transformer.h.1.ln_2.bias.npy has shape [3], expected [4]"),
                shape.getMessage());

        Npy.write(Nd4j.zeros(DataType.FLOAT, 4), dir.resolve("transformer.h.1.ln_2.bias.npy"));
        Npy.write(Nd4j.zeros(DataType.FLOAT, 4), dir.resolve("transformer.h.7.ln_2.bias.npy"));
        IOException unknown = assertThrows(IOException.class, () -> b.load(dir));
        assertTrue(unknown.getMessage().contains("unknown parameter file")
                && unknown.getMessage().contains("transformer.h.7.ln_2.bias.npy"),
                unknown.getMessage());

        Gpt noBias = new Gpt(new GptConfig(7, 5, 2, 2, 4, 0.0, false), 1);
        Files.delete(dir.resolve("transformer.h.7.ln_2.bias.npy"));
        IOException bias = assertThrows(IOException.class, () -> noBias.load(dir));
        assertTrue(bias.getMessage().contains("a bias, but this model has bias=false"), bias.getMessage());
        assertFalse(Files.exists(dir.resolve("transformer.wte.weight.npy.tmp")));
    }

    static double std(INDArray a) {
        return a.castTo(DataType.DOUBLE).stdNumber().doubleValue();
    }

    static Map<String, INDArray> snapshotGrads(Gpt gpt) {
        Map<String, INDArray> m = new java.util.HashMap<>();
        gpt.parameters().forEach((n, p) -> m.put(n, p.grad().dup()));
        return m;
    }
}
