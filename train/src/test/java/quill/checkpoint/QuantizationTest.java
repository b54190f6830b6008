package quill.checkpoint;

import quill.data.PreparedData;
import quill.train.TinyRun;
import quill.train.TrainConfig;
import quill.train.Trainer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import quill.model.FastGpt;
import quill.model.Gpt;
import quill.model.KvCache;

import java.io.IOException;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** int8 / int4 quantisation: the rounding bound, whole models' logits, and damaged files. */
class QuantizationTest {
    @TempDir
    Path tmp;

    /** Gaussian weights with a few outliers, in a matrix whose rows do not divide into whole groups. */
    private static float[] weights(int rows, int cols, long seed) {
        Random r = new Random(seed);
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) w[i] = (float) (0.02 * r.nextGaussian());
        for (int k = 0; k < 5; k++) w[r.nextInt(w.length)] = (float) (0.5 * r.nextGaussian());
        w[0] = 0;
        Arrays.fill(w, cols, 2 * cols, 0f);                                   // a row of zeros: scale 0
        return w;
    }

    /** |w - deq(q(w))| <= scale / 2 for every element, the bound of rounding to the nearest step. */
    @Test
    void theRoundTripErrorIsAtMostHalfAStep() {
        int rows = 7, cols = 77;
        float[] w = weights(rows, cols, 1);
        Quantization[] schemes = {new Quantization(8, 0), new Quantization(4, 32), new Quantization(4, 2)};
        for (Quantization scheme : schemes) {
            Quantization.Quantized q = scheme.quantize(w, rows, cols);
            assertEquals(rows * scheme.bytesPerRow(cols), q.q().length);
            assertEquals(rows * scheme.groupsPerRow(cols), q.scales().length);
            float[] back = scheme.dequantize(q, rows, cols);
            for (int i = 0; i < w.length; i++) {
                int r = i / cols, c = i % cols;
                float scale = q.scales()[r * scheme.groupsPerRow(cols) + c / scheme.groupWidth(cols)];
                assertTrue(Math.abs(w[i] - back[i]) <= scale / 2 * (1 + 1e-6) + 1e-12,
                        scheme + " element " + i + ": " + w[i] + " came back as " + back[i] + ", scale " + scale);
            }
            assertEquals(0f, back[0]);                                          // 0 stays exactly 0
            for (int c = 0; c < cols; c++) assertEquals(0f, back[cols + c]);
            // the largest |w| of a group is a whole number of steps: it comes back exactly (up to float rounding)
            int big = 0;
            for (int i = 0; i < w.length; i++) if (Math.abs(w[i]) > Math.abs(w[big])) big = i;
            assertEquals(w[big], back[big], Math.abs(w[big]) * 1e-6);
        }
    }

    @Test
    void badSchemesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new Quantization(3, 0));
        assertThrows(IllegalArgumentException.class, () -> new Quantization(4, 7));
        assertThrows(IllegalArgumentException.class, () -> new Quantization(8, 32));
    }

    private Checkpoint trained(Map<String, String> arch) throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Path out = tmp.resolve("out");
        TrainConfig config = TinyRun.config(out, 10).with(arch);
        Trainer t = TinyRun.trainer(config, data, new StringWriter());
        t.sampleLength(0);
        t.run(null);
        return Checkpoint.load(Checkpoint.last(out));
    }

    private static INDArray logits(Gpt model) {
        int[][] idx = new int[3][16];
        for (int b = 0; b < 3; b++) {
            for (int t = 0; t < 16; t++) idx[b][t] = (7 * b + 3 * t) % model.config().vocabSize();
        }
        return model.forward(idx).value().dup();
    }

    /**
     * A quantised model's logits stay within a fixed fraction of the float model's logit range: 1% for int8,
     * 10% for int4 in groups of 8 (the tiny model's rows are 16 wide). Also for an untied lm_head with rotary
     * positions: every 2-D weight is found by its shape, whatever the architecture.
     */
    @Test
    void aQuantisedModelsLogitsStayCloseToTheFloatModels() throws IOException {
        Checkpoint ckpt = trained(Map.of("pos", "rope", "tie-embeddings", "false"));
        Gpt model = ckpt.newModel();
        assertTrue(model.parameters().containsKey("lm_head.weight"));
        INDArray reference = logits(model);
        double range = reference.amaxNumber().doubleValue();
        for (Object[] c : new Object[][]{{new Quantization(8, 0), 0.01}, {new Quantization(4, 8), 0.10}}) {
            Quantization scheme = (Quantization) c[0];
            Path file = tmp.resolve("q" + scheme.bits() + ".zip");
            QuantizedCheckpoint.write(ckpt, model, scheme, file);
            Checkpoint q = Checkpoint.load(file);
            assertEquals(scheme, q.quantization());
            try (ZipFile zip = new ZipFile(file.toFile())) {
                assertNotNull(zip.getEntry("quantized/lm_head.weight.npy"));
                assertNotNull(zip.getEntry("quantized/transformer.wte.weight.scales.npy"));
                assertNotNull(zip.getEntry("model/transformer.ln_f.weight.npy"));
                assertTrue(zip.stream().noneMatch(e -> e.getName().startsWith("optimizer/")));
            }
            double err = logits(q.newModel()).sub(reference).amaxNumber().doubleValue();
            assertTrue(err > 0 && err <= (double) c[1] * range, scheme + ": logits off by " + err + ", range " + range);
        }
    }

    /** Sampling reads a quantised checkpoint of nanoGPT's kind without ND4J: the same logits as its model's, bit for bit. */
    @Test
    void aQuantisedCheckpointReadsIntoFastGptWithItsModelsLogits() throws IOException {
        Checkpoint ckpt = trained(Map.of());
        for (Quantization scheme : new Quantization[]{new Quantization(8, 0), new Quantization(4, 8)}) {
            Path file = tmp.resolve("fast" + scheme.bits() + ".zip");
            QuantizedCheckpoint.write(ckpt, ckpt.newModel(), scheme, file);
            Checkpoint q = Checkpoint.load(file);
            FastGpt.Cache fast = q.fastModel().cache(1, 1);
            KvCache reference = new KvCache(q.newModel());
            int[] history = new int[2 * q.modelConfig().blockSize() + 3];
            for (int i = 0; i < history.length; i++) history[i] = (5 * i + 1) % q.modelConfig().vocabSize();
            for (int n = 1; n <= history.length; n++) {
                assertArrayEquals(reference.nextTokenLogits(history, n), fast.nextTokenLogits(history, n),
                        scheme + ", n=" + n);
            }
        }
    }

    @Test
    void resumingFromAQuantisedCheckpointIsRefused() throws IOException {
        Checkpoint ckpt = trained(Map.of());
        Path file = tmp.resolve("q.zip");
        QuantizedCheckpoint.write(ckpt, ckpt.newModel(), new Quantization(8, 0), file);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Trainer.checkResumable(Checkpoint.load(file), ckpt.config(), ckpt.tokenizer()));
        assertTrue(e.getMessage().contains("quantised"), e.getMessage());
    }

    @Test
    void aTruncatedOrDamagedQuantisedFileIsAClearError() throws IOException {
        Checkpoint ckpt = trained(Map.of());
        Path file = tmp.resolve("q.zip");
        QuantizedCheckpoint.write(ckpt, ckpt.newModel(), new Quantization(4, 8), file);
        byte[] bytes = Files.readAllBytes(file);

        Path truncated = tmp.resolve("truncated.zip");
        Files.write(truncated, Arrays.copyOf(bytes, bytes.length / 2));
        IOException e = assertThrows(IOException.class, () -> Checkpoint.load(truncated).newModel());
        assertTrue(e.getMessage().contains(truncated.toString()) && e.getMessage().contains("corrupt"), e.getMessage());

        // an entry rewritten with a wrong length (a consistent zip, so only the shape check can catch it)
        Path shortened = tmp.resolve("shortened.zip");
        try (ZipFile in = new ZipFile(file.toFile());
             ZipOutputStream out = new ZipOutputStream(Files.newOutputStream(shortened))) {
            for (ZipEntry entry : in.stream().toList()) {
                byte[] data = in.getInputStream(entry).readAllBytes();
                if (entry.getName().equals("quantized/transformer.h.0.mlp.c_fc.weight.npy")) {
                    data = Arrays.copyOf(data, data.length - 1);
                }
                out.putNextEntry(new ZipEntry(entry.getName()));
                out.write(data);
                out.closeEntry();
            }
        }
        e = assertThrows(IOException.class, () -> Checkpoint.load(shortened).newModel());
        assertTrue(e.getMessage().contains("c_fc.weight.npy") && e.getMessage().contains("corrupt"), e.getMessage());
    }
}
