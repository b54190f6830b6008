package quill.interop;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import quill.autograd.Parameter;
import quill.optim.AdamW;
import quill.model.Architecture;
import quill.model.Gpt;
import quill.io.Npy;
import quill.tokenizer.CharTokenizer;
import quill.checkpoint.Checkpoint;
import quill.train.TrainConfig;
import quill.train.Trainer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Export to nanoGPT's ckpt.pt, import it back: the same model, logits, AdamW state, settings and vocabulary. */
class NanoGptRoundTripTest {
    @TempDir
    Path tmp;

    @Test
    void exportThenImportGivesTheSameLogitsAndOptimizerState() throws IOException {
        for (boolean bias : List.of(false, true)) {
            for (boolean masks : List.of(false, true)) {
                Path dir = tmp.resolve("bias-" + bias + "-masks-" + masks);
                Path quill = dir.resolve("quill").resolve(Checkpoint.LAST);
                Files.createDirectories(quill.getParent());
                TinyCheckpoint.write(quill, bias, Architecture.NANOGPT);
                Checkpoint original = Checkpoint.load(quill);

                NanoGptExport.export(original, dir.resolve("nanogpt"), masks);
                NanoGptImport.Result r = NanoGptImport.run(dir.resolve("nanogpt").resolve(NanoGptExport.CKPT), null,
                        dir.resolve("back"));
                Checkpoint back = Checkpoint.load(Checkpoint.last(dir.resolve("back")));

                assertEquals(original.modelConfig(), back.modelConfig());
                assertEquals(original.tokenizer().toJson(), back.tokenizer().toJson());
                Map<String, String> settings = original.config().toMap();
                settings.put("out-dir", dir.resolve("back").toString());
                assertEquals(settings, back.config().toMap(),
                        "every setting comes back (the run folder is the new one)");
                assertEquals(List.of(TinyCheckpoint.ITER, 3.25, TinyCheckpoint.ITER),
                        List.of(back.state().iter(), back.state().bestValLoss(), r.adamSteps()));
                assertTrue(back.state().resumable());
                assertEquals(masks ? 1 : 0, r.notes().size(), String.valueOf(r.notes()));

                Gpt a = original.newModel(), b = back.newModel();
                int[][][] batch = TinyCheckpoint.batch((CharTokenizer) original.tokenizer());
                assertEquals(a.forward(batch[0]).value(), b.forward(batch[0]).value(), "the same logits, bit for bit");
                for (String name : a.parameters().keySet()) {
                    assertEquals(a.parameters().get(name).value(), b.parameters().get(name).value(), name);
                }
                assertSameOptimizer(original, a, back, b, dir);
                assertTrue(Files.exists(Checkpoint.best(dir.resolve("back"))));
            }
        }
    }

    private static void assertSameOptimizer(Checkpoint x, Gpt a, Checkpoint y, Gpt b, Path dir) throws IOException {
        TrainConfig c = x.config();
        AdamW ox = new AdamW(a.parameters(), c.beta1(), c.beta2(), Trainer.ADAM_EPS, c.weightDecay());
        AdamW oy = new AdamW(b.parameters(), c.beta1(), c.beta2(), Trainer.ADAM_EPS, c.weightDecay());
        x.loadOptimizer(ox);
        y.loadOptimizer(oy);
        assertEquals(ox.steps(), oy.steps());
        ox.save(dir.resolve("adam-x"));
        oy.save(dir.resolve("adam-y"));
        int compared = 0;
        for (Parameter p : a.parameters().values()) {
            for (String moment : List.of(".exp_avg.npy", ".exp_avg_sq.npy")) {
                INDArray mx = Npy.read(dir.resolve("adam-x").resolve(p.name() + moment));
                INDArray my = Npy.read(dir.resolve("adam-y").resolve(p.name() + moment));
                assertEquals(mx, my, p.name() + moment);
                assertFalse(mx.norm1Number().doubleValue() == 0, "a real moment: " + p.name() + moment);
                compared++;
            }
        }
        assertEquals(2 * a.parameters().size(), compared);
    }

    @Test
    void nanoGptsOrderAndGroupsCoverQuillsParameters() throws IOException {
        for (boolean bias : List.of(false, true)) {
            Path file = tmp.resolve("order-" + bias).resolve(Checkpoint.LAST);
            Files.createDirectories(file.getParent());
            Gpt model = TinyCheckpoint.write(file, bias, Architecture.NANOGPT);
            var names = NanoGpt.parameterNames(model.config());
            assertEquals(new java.util.TreeSet<>(model.parameters().keySet()), new java.util.TreeSet<>(names));
            var groups = NanoGpt.optimizerGroups(model.config());
            for (String name : groups.get(0)) assertEquals(2, model.parameters().get(name).rank(), name);
            for (String name : groups.get(1)) assertEquals(1, model.parameters().get(name).rank(), name);
            assertEquals(names.size(), groups.get(0).size() + groups.get(1).size());
        }
    }
}
