package quill.train;

import quill.data.PreparedData;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HealthStatsTest {
    @TempDir
    Path tmp;

    private List<JsonObject> health(Path out) throws IOException {
        return Files.readAllLines(out.resolve("metrics.jsonl")).stream()
                .map(l -> JsonParser.parseString(l).getAsJsonObject())
                .filter(o -> o.has("health")).map(o -> o.getAsJsonObject("health")).toList();
    }

    @Test
    void healthStatisticsDoNotChangeTraining() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Path on = tmp.resolve("on"), off = tmp.resolve("off");
        TinyRun.trainer(TinyRun.config(on, 12).with(Map.of("health-interval", "3")), data, new StringWriter())
                .run(null);
        TinyRun.trainer(TinyRun.config(off, 12).with(Map.of("health-interval", "0")), data, new StringWriter())
                .run(null);
        List<MetricsLog.Step> a = TinyRun.steps(on), b = TinyRun.steps(off);
        assertEquals(12, a.size());
        for (int i = 0; i < a.size(); i++) {
            assertEquals(b.get(i).loss(), a.get(i).loss(), 0.0, "step " + i);
            assertEquals(b.get(i).gradNorm(), a.get(i).gradNorm(), 0.0, "step " + i);
        }
        List<MetricsLog.Eval> ea = TinyRun.evals(on), eb = TinyRun.evals(off);
        assertEquals(eb.size(), ea.size());
        for (int i = 0; i < ea.size(); i++) assertEquals(eb.get(i).valLoss(), ea.get(i).valLoss(), 0.0, "eval " + i);
        assertEquals(4, health(on).size());                       // iterations 0, 3, 6, 9
        assertTrue(health(off).isEmpty());
    }

    @Test
    void everyStepRecordsItsGradientNormAndWhetherItWasClipped() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Path out = tmp.resolve("out");
        TinyRun.trainer(TinyRun.config(out, 6).with(Map.of("grad-clip", "0.5")), data, new StringWriter()).run(null);
        for (MetricsLog.Step s : TinyRun.steps(out)) {
            assertTrue(s.gradNorm() > 0, s.toString());
            assertEquals(s.gradNorm() > 0.5, s.clipped(), s.toString());
        }
        Path noClip = tmp.resolve("noclip");
        TinyRun.trainer(TinyRun.config(noClip, 3).with(Map.of("grad-clip", "0")), data, new StringWriter()).run(null);
        for (MetricsLog.Step s : TinyRun.steps(noClip)) {
            assertTrue(s.gradNorm() > 0, "the norm is measured without clipping too");
            assertFalse(s.clipped());
        }
    }

    /** Every switch at once, and Muon: the groups are the state dict's, the stats are there and finite. */
    @Test
    void recordsEveryLayerOfAnyArchitecture() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Path out = tmp.resolve("out");
        TrainConfig c = TinyRun.config(out, 2).with(Map.of("health-interval", "1", "n-layer", "2", "norm", "rmsnorm",
                "pos", "rope", "mlp", "swiglu", "qk-norm", "true", "tie-embeddings", "false", "logit-softcap", "30",
                "optimizer", "muon", "bias", "true"));
        TinyRun.trainer(c, data, new StringWriter()).run(null);
        JsonObject h = health(out).get(1);
        JsonObject params = h.getAsJsonObject("params");
        assertEquals(List.of("transformer.wte", "transformer.h.0.ln_1", "transformer.h.0.attn.c_attn",
                "transformer.h.0.attn.c_proj", "transformer.h.0.ln_2", "transformer.h.0.mlp.c_fc",
                "transformer.h.0.mlp.c_proj", "transformer.h.1.ln_1", "transformer.h.1.attn.c_attn",
                "transformer.h.1.attn.c_proj", "transformer.h.1.ln_2", "transformer.h.1.mlp.c_fc",
                "transformer.h.1.mlp.c_proj", "transformer.ln_f", "lm_head"), List.copyOf(params.keySet()));
        for (String g : params.keySet()) {
            JsonObject p = params.getAsJsonObject(g);
            assertTrue(p.get("weight_rms").getAsDouble() > 0, g);
            assertTrue(p.get("grad_rms").getAsDouble() > 0, g);
            double ratio = p.get("log10_update_ratio").getAsDouble();
            assertTrue(ratio > -8 && ratio < 1, g + " " + ratio);
        }
        JsonObject acts = h.getAsJsonObject("activations");
        assertEquals(List.of("transformer.h.0.attn", "transformer.h.0.mlp", "transformer.h.1.attn",
                        "transformer.h.1.mlp"),
                List.copyOf(acts.keySet()));
        assertEquals("swiglu", acts.getAsJsonObject("transformer.h.0.mlp").get("kind").getAsString());
        double dead = acts.getAsJsonObject("transformer.h.0.mlp").get("dead").getAsDouble();
        assertTrue(dead >= 0 && dead <= 1);
        assertNotNull(acts.getAsJsonObject("transformer.h.1.attn").get("saturated"));
        assertTrue(acts.getAsJsonObject("transformer.h.1.attn").get("std").getAsDouble() > 0);
        JsonObject entropy = h.getAsJsonObject("attention_entropy");
        assertEquals(2, entropy.getAsJsonArray("transformer.h.0.attn").size());   // two heads
        double e = entropy.getAsJsonArray("transformer.h.0.attn").get(0).getAsDouble();
        assertTrue(e > 0 && e < Math.log(16), "" + e);       // at most ln(16) for 16 positions
    }

    @Test
    void deadUnitsFollowTheirNonlinearity() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        for (String mlp : List.of("gelu", "relu2")) {
            Path out = tmp.resolve(mlp);
            TinyRun.trainer(TinyRun.config(out, 1).with(Map.of("mlp", mlp)), data, new StringWriter()).run(null);
            JsonObject a = health(out).get(0).getAsJsonObject("activations").getAsJsonObject("transformer.h.0.mlp");
            double dead = a.get("dead").getAsDouble();
            // at init the MLP's inputs are small (std about 0.3): ReLU² kills about half, GELU almost none below -3
            if (mlp.equals("relu2")) assertTrue(dead > 0.3 && dead < 0.7, mlp + " " + dead);
            else assertTrue(dead < 0.01, mlp + " " + dead);
        }
    }
}
