package quill.train;

import quill.checkpoint.Checkpoint;
import quill.data.PreparedData;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import quill.autograd.Parameter;

import java.io.IOException;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainerTest {

    @TempDir
    Path tmp;

    @Test
    void aTinyRunLeavesCheckpointsMetricsAndAPlot() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Path out = tmp.resolve("out");
        StringWriter console = new StringWriter();
        assertEquals(Trainer.Outcome.FINISHED, TinyRun.trainer(TinyRun.config(out, 12), data, console).run(null));

        for (String f : List.of("ckpt-last.zip", "ckpt-best.zip", "metrics.jsonl", "loss.png", "config.properties")) {
            assertTrue(Files.size(out.resolve(f)) > 0, f);
        }
        List<String> lines = Files.readAllLines(out.resolve("metrics.jsonl"));
        int stepLines = 0;
        int evalLines = 0;
        int fullValLines = 0;
        for (String line : lines) {
            JsonObject o = JsonParser.parseString(line).getAsJsonObject();
            if (o.has("full_val_loss")) {                       // the final model over the whole val split
                fullValLines++;
                assertEquals(12, o.get("iter").getAsInt());
                assertTrue(o.get("full_val_loss").getAsDouble() > 0);
                assertEquals(o.get("full_val_loss").getAsDouble() / Math.log(2),
                        o.get("full_val_bits_per_char").getAsDouble(), 1e-9);
                assertEquals(data.valTokens() - 1, o.get("full_val_tokens").getAsInt());
            } else if (o.has("val_loss")) {
                evalLines++;
                assertTrue(o.get("train_loss").getAsDouble() > 0);
            } else if (o.has("health")) {                       // health-interval 50: iteration 0 only
                assertEquals(0, o.get("iter").getAsInt());
                assertTrue(o.getAsJsonObject("health").has("params"));
            } else {
                assertEquals(stepLines++, o.get("iter").getAsInt());
                for (String k : List.of("loss", "lr", "ms", "tokens_per_s", "grad_norm")) {
                    assertTrue(o.get(k).getAsDouble() > 0, k);
                }
            }
        }
        assertEquals(12, stepLines);
        assertEquals(1, fullValLines);
        assertEquals(List.of(0, 5, 10, 12), TinyRun.evals(out).stream().map(MetricsLog.Eval::iter).toList());
        List<MetricsLog.Step> steps = TinyRun.steps(out);
        assertTrue(steps.get(11).loss() < steps.get(0).loss(), "the loss falls");

        Checkpoint last = Checkpoint.load(out.resolve("ckpt-last.zip"));
        assertEquals(12, last.state().iter());
        assertEquals(TinyRun.config(out, 12), last.config());
        assertEquals(data.tokenizer().toJson(), last.tokenizer().toJson());
        last.newModel(); // the weights load
        assertEquals(TrainConfig.parseProperties(Files.readString(out.resolve("config.properties")), "x"),
                last.config());
        String text = console.toString();
        assertTrue(text.contains("eval 5: train loss"), text);
        assertTrue(text.contains("full val split (" + String.format(java.util.Locale.ROOT, "%,d", data.valTokens() - 1)
                + " tokens, every one predicted once): loss "), text);
        assertTrue(text.contains("sample"), text);
    }

    @Test
    void aResumedRunGivesTheSameLossesAsAnUninterruptedOne() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Path straight = tmp.resolve("straight");
        TinyRun.trainer(TinyRun.config(straight, 20), data, new StringWriter()).run(null);

        // stopped by max-iters at an eval, then continued
        Path halves = tmp.resolve("halves");
        TinyRun.trainer(TinyRun.config(halves, 10), data, new StringWriter()).run(null);
        Checkpoint half = Checkpoint.load(Checkpoint.last(halves));
        assertEquals(10, half.state().iter());
        TinyRun.trainer(TinyRun.config(halves, 20), data, new StringWriter()).run(half);

        // stopped between evals, as Ctrl-C does, then continued
        Path stopped = tmp.resolve("stopped");
        Trainer t = TinyRun.trainer(TinyRun.config(stopped, 20), data, new StringWriter());
        t.afterStep(iter -> {
            if (iter == 7) t.requestStop();
        });
        assertEquals(Trainer.Outcome.STOPPED, t.run(null));
        Checkpoint atStop = Checkpoint.load(Checkpoint.last(stopped));
        assertEquals(8, atStop.state().iter());
        TinyRun.trainer(TinyRun.config(stopped, 20), data, new StringWriter()).run(atStop);

        double[] expected = losses(TinyRun.steps(straight));
        assertEquals(20, expected.length);
        assertArrayEquals(expected, losses(TinyRun.steps(halves)), 1e-6);
        assertArrayEquals(expected, losses(TinyRun.steps(stopped)), 1e-6);
        double[] expectedEvals = TinyRun.evals(straight).stream().mapToDouble(MetricsLog.Eval::valLoss).toArray();
        assertArrayEquals(expectedEvals, TinyRun.evals(halves).stream().mapToDouble(MetricsLog.Eval::valLoss).toArray(),
                1e-6);
        assertArrayEquals(expectedEvals,
                TinyRun.evals(stopped).stream().mapToDouble(MetricsLog.Eval::valLoss).toArray(), 1e-6);
    }

    /** Worker threads change only the order of float sums: without dropout, one and three threads learn alike. */
    @Test
    void theThreadCountDoesNotChangeWhatIsLearned() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        double[][] losses = new double[2][];
        int[] threads = {1, 3};
        for (int i = 0; i < 2; i++) {
            Path out = tmp.resolve("threads-" + threads[i]);
            Trainer t = TinyRun.trainer(TinyRun.config(out, 12).with(Map.of("dropout", "0.0")), data,
                    new StringWriter());
            t.threads(threads[i]);
            t.run(null);
            losses[i] = losses(TinyRun.steps(out));
        }
        assertArrayEquals(losses[0], losses[1], 1e-5);
        assertThrows(IllegalArgumentException.class,
                () -> TinyRun.trainer(TinyRun.config(tmp, 1), data, new StringWriter()).threads(0));
    }

    @Test
    void resumingWithAnotherModelShapeNamesTheSetting() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Path out = tmp.resolve("out");
        TinyRun.trainer(TinyRun.config(out, 5), data, new StringWriter()).run(null);
        Checkpoint ckpt = Checkpoint.load(Checkpoint.last(out));
        TrainConfig wider = TinyRun.config(out, 10).with(Map.of("n-embd", "32"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TinyRun.trainer(wider, data, new StringWriter()).run(ckpt));
        assertTrue(e.getMessage().contains("n-embd 16 but the settings say 32"), e.getMessage());
    }

    /** A checkpoint of format 1 (batches drawn before they matched nanoGPT's) has no generator state: a clear error. */
    @Test
    void aCheckpointWithoutTheGeneratorStateIsNotResumed() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Path out = tmp.resolve("out");
        TinyRun.trainer(TinyRun.config(out, 5), data, new StringWriter()).run(null);
        Checkpoint ckpt = Checkpoint.load(Checkpoint.last(out));
        TrainingState s = ckpt.state();
        Checkpoint old = new Checkpoint(ckpt.file(), ckpt.config(), ckpt.modelConfig(), ckpt.tokenizer(),
                new TrainingState(s.iter(), s.lastEvalIter(), s.bestValLoss(), null, null, s.dropoutState()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TinyRun.trainer(TinyRun.config(out, 10), data, new StringWriter()).run(old));
        assertTrue(e.getMessage().contains("checkpoint format 1"), e.getMessage());
    }

    @Test
    void aNanLossStopsTheRunAndKeepsTheLastGoodCheckpoint() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Path out = tmp.resolve("out");
        TrainConfig config = TinyRun.config(out, 20).with(Map.of("always-save-checkpoint", "true"));
        Trainer t = TinyRun.trainer(config, data, new StringWriter());
        t.afterStep(iter -> {
            if (iter == 7) { // poison one weight: the next forward pass gives NaN
                Parameter p = t.model.parameters().values().iterator().next();
                p.value().putScalar(0, Float.NaN);
            }
        });
        Trainer.DivergedException e = assertThrows(Trainer.DivergedException.class, () -> t.run(null));
        assertTrue(e.getMessage().contains("became NaN at iteration 8"), e.getMessage());
        assertTrue(e.getMessage().contains("ckpt-last.zip"), e.getMessage());
        assertEquals(5, Checkpoint.load(Checkpoint.last(out)).state().iter());
        assertTrue(Files.readAllLines(out.resolve("metrics.jsonl")).stream().noneMatch(l -> l.contains("NaN")));
    }

    @Test
    void aBlockLongerThanTheDataIsAClearError() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        TrainConfig config = TinyRun.config(tmp.resolve("out"), 5).with(Map.of("block-size", "5000"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TinyRun.trainer(config, data, new StringWriter()).run(null));
        assertTrue(e.getMessage().startsWith("block-size 5000 is longer than the data"), e.getMessage());
    }

    @Test
    void anUnwritableOutputFolderIsAClearError() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        TrainConfig config = TinyRun.config(file.resolve("out"), 5);
        IOException e = assertThrows(IOException.class,
                () -> TinyRun.trainer(config, data, new StringWriter()).run(null));
        assertTrue(e.getMessage().startsWith("cannot write to the output folder " + file.resolve("out")),
                e.getMessage());
    }

    private static double[] losses(List<MetricsLog.Step> steps) {
        return steps.stream().mapToDouble(MetricsLog.Step::loss).toArray();
    }
}
