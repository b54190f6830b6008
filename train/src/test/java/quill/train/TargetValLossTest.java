package quill.train;

import quill.checkpoint.Checkpoint;
import quill.data.PreparedData;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --target-val-loss}: stop at the first eval the whole val split confirms, and report the time to it. */
class TargetValLossTest {

    @TempDir
    Path tmp;

    private static TrainConfig config(Path out, int maxIters, double target) throws IOException {
        return TinyRun.config(out, maxIters).with(Map.of("target-val-loss", String.valueOf(target)));
    }

    private static List<JsonObject> metrics(Path out) throws IOException {
        List<JsonObject> lines = new ArrayList<>();
        for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            lines.add(JsonParser.parseString(line).getAsJsonObject());
        }
        return lines;
    }

    private static List<JsonObject> with(List<JsonObject> lines, String key) {
        return lines.stream().filter(o -> o.has(key)).toList();
    }

    @Test
    void aReachedTargetStopsTheRunAtThatEvalWithItsCheckpointAndTime() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Path out = tmp.resolve("out");
        StringWriter console = new StringWriter();
        // any loss is below 100: the first eval after iteration 0 reaches it (the eval at 0 never counts)
        assertEquals(Trainer.Outcome.TARGET_REACHED, TinyRun.trainer(config(out, 20, 100), data, console).run(null));

        List<JsonObject> lines = metrics(out);
        assertEquals(5, with(lines, "loss").size(), "no step after the eval that reached the target");
        List<JsonObject> full = with(lines, "full_val_loss");
        assertEquals(1, full.size());
        assertEquals(5, full.get(0).get("iter").getAsInt());
        JsonObject target = with(lines, "time_to_target_s").get(0);
        assertEquals(5, target.get("iter").getAsInt());
        assertEquals(100, target.get("target_val_loss").getAsDouble());
        double seconds = target.get("time_to_target_s").getAsDouble();
        assertTrue(seconds > 0 && seconds < 3600, "seconds since the process started: " + seconds);

        for (String f : List.of("ckpt-best.zip", "ckpt-last.zip")) {
            assertEquals(5, Checkpoint.load(out.resolve(f)).state().iter(), f + " holds the model that met the target");
        }
        String text = console.toString();
        assertTrue(text.contains("target val loss 100.0000 reached at iteration 5: "), text);
        assertTrue(text.contains(" s since the process started"), text);
        assertFalse(text.contains("sample (temperature"), "a speedrun ends without the closing sample: " + text);
    }

    @Test
    void anUnreachedTargetTrainsToMaxItersAndSaysSo() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Path out = tmp.resolve("out");
        StringWriter console = new StringWriter();
        assertEquals(Trainer.Outcome.FINISHED, TinyRun.trainer(config(out, 12, 0.01), data, console).run(null));
        List<JsonObject> lines = metrics(out);
        assertEquals(12, with(lines, "loss").size());
        assertTrue(with(lines, "time_to_target_s").isEmpty());
        String text = console.toString();
        assertTrue(text.contains("target val loss 0.0100 not reached in 12 iterations: "), text);
    }

    @Test
    void anEstimateTheWholeSplitDoesNotConfirmLetsTrainingGoOn() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        // the same run without a target: its estimates, and the whole split's loss at each eval (measured below)
        double[] estimate = new double[4];
        double[] whole = new double[4];
        for (int k = 1; k <= 3; k++) {   // evals at 5, 10, 15: a run that ends there gives the whole split's loss
            Path out = tmp.resolve("probe" + k);
            TinyRun.trainer(TinyRun.config(out, 5 * k), data, new StringWriter()).run(null);
            estimate[k] = TinyRun.evals(out).get(k).valLoss();
            whole[k] = with(metrics(out), "full_val_loss").get(0).get("full_val_loss").getAsDouble();
        }
        // an eval whose estimate is optimistic: a target between the two is "reached" there but not confirmed
        int at = 0;
        double target = 0;
        double earlier = Double.POSITIVE_INFINITY;   // no earlier estimate may reach the target
        for (int k = 1; k <= 3 && at == 0; k++) {
            double between = (estimate[k] + whole[k]) / 2;
            if (estimate[k] < whole[k] && between < earlier) {
                at = k;
                target = between;
            }
            earlier = Math.min(earlier, estimate[k]);
        }
        assertNotEquals(0, at, "no eval whose 2-batch estimate is below the whole split's loss");
        Path out = tmp.resolve("out");
        StringWriter console = new StringWriter();
        TinyRun.trainer(config(out, 5 * at + 5, target), data, console).run(null);
        String text = console.toString();
        assertTrue(text.contains("above the target"), text);
        List<JsonObject> lines = metrics(out);
        assertTrue(with(lines, "loss").size() > 5 * at, "training went on past iteration " + 5 * at);
        assertEquals(5 * at, with(lines, "full_val_loss").get(0).get("iter").getAsInt());
    }

    @Test
    void aNegativeTargetIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TrainConfig.preset("shakespeare_char_cpu").with(Map.of("target-val-loss", "-1")));
        assertTrue(e.getMessage().contains("target-val-loss"), e.getMessage());
    }
}
