package quill.train;

import quill.checkpoint.Checkpoint;
import quill.checkpoint.CheckpointWriter;
import quill.data.PreparedData;
import quill.plot.RunComparison;
import quill.sample.Sampler;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import quill.autograd.Parameter;
import quill.autograd.Tensor;
import quill.model.Architecture;
import quill.model.Gpt;
import quill.model.Norm;

import java.io.IOException;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs with architecture switches: they train, checkpoint, resume, sample and compare as nanoGPT's does. */
class ArchitectureRunTest {

    /** Every switch on at once (with Muon), on the tiny run. */
    static final Map<String, String> MODERN = Map.of("norm", "rmsnorm", "pos", "rope", "mlp", "swiglu",
            "mlp-hidden", "24", "qk-norm", "true", "tie-embeddings", "false", "logit-softcap", "20",
            "optimizer", "muon");

    @Test
    void aModernRunRecordsItsArchitectureAndSamplesTheSameWithAndWithoutTheCache(@TempDir Path tmp) throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Path out = tmp.resolve("modern");
        StringWriter console = new StringWriter();
        TinyRun.trainer(TinyRun.config(out, 10).with(MODERN), data, console).run(null);
        assertTrue(console.toString().contains("norm=rmsnorm pos=rope mlp=swiglu mlp-hidden=24 qk-norm=true"
                + " tie-embeddings=false logit-softcap=20.0"), console.toString());

        Checkpoint ckpt = Checkpoint.load(Checkpoint.last(out));
        Architecture arch = ckpt.modelConfig().arch();
        assertEquals(Architecture.PosType.ROPE, arch.pos());
        assertEquals(24, arch.mlpHidden());
        assertEquals(TrainConfig.Optimizer.MUON, ckpt.config().optimizer());
        Gpt model = ckpt.newModel();
        assertTrue(model.parameters().containsKey("lm_head.weight"));

        // past the block (16): the cached text equals the full forward's
        Sampler a = new Sampler(0.8, 0, 5), b = new Sampler(0.8, 0, 5);
        int[] prompt = {1, 2, 3};
        int[] cached = a.generate(Sampler.cached(model, 1), prompt, 60, id -> { });
        int[] full = b.generate(Sampler.fullForward(model), prompt, 60, id -> { });
        assertArrayEquals(full, cached);

        // resume continues it; another architecture or optimizer is refused, naming what differs
        TinyRun.trainer(TinyRun.config(out, 15).with(MODERN), data, new StringWriter()).run(ckpt);
        assertEquals(15, Checkpoint.load(Checkpoint.last(out)).state().iter());
        Checkpoint later = Checkpoint.load(Checkpoint.last(out));
        Map<String, String> learned = new java.util.HashMap<>(MODERN);
        learned.put("pos", "learned");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Trainer.checkResumable(later,
                TinyRun.config(out, 20).with(learned), data.tokenizer()));
        assertTrue(e.getMessage().contains("pos=rope") && e.getMessage().contains("architecture"), e.getMessage());
        Map<String, String> adam = new java.util.HashMap<>(MODERN);
        adam.put("optimizer", "adamw");
        e = assertThrows(IllegalArgumentException.class, () -> Trainer.checkResumable(later,
                TinyRun.config(out, 20).with(adam), data.tokenizer()));
        assertTrue(e.getMessage().contains("optimizer muon"), e.getMessage());
    }

    @Test
    void aCheckpointLoadsOnlyIntoItsOwnArchitecture(@TempDir Path tmp) throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Path out = tmp.resolve("layernorm");
        TinyRun.trainer(TinyRun.config(out, 5).with(Map.of("bias", "false")), data, new StringWriter()).run(null);
        Checkpoint ckpt = Checkpoint.load(Checkpoint.last(out));
        // RMSNorm without bias has exactly LayerNorm-without-bias's parameter names and shapes
        Gpt rms = new Gpt(ckpt.modelConfig().with(new Architecture(Architecture.NormType.RMSNORM,
                Architecture.PosType.LEARNED, 10000, Architecture.MlpType.GELU, 0, false, true, 0)), 1);
        IOException e = assertThrows(IOException.class, () -> ckpt.loadWeights(rms));
        assertTrue(e.getMessage().contains("norm=rmsnorm") && e.getMessage().contains("nanoGPT's architecture"),
                e.getMessage());
    }

    /** A researcher's own norm, which the checkpoint can name but not build. */
    static final class ScaleNorm implements Norm {
        final Parameter g;

        ScaleNorm(String name, int nEmbd, boolean bias, DataType type) {
            g = new Parameter(name + ".weight", org.nd4j.linalg.factory.Nd4j.ones(type, nEmbd));
        }

        @Override
        public Tensor forward(Tensor x) {
            return quill.autograd.Ops.mul(x, g);
        }

        @Override
        public List<Parameter> parameters() {
            return List.of(g);
        }
    }

    @Test
    void aCustomNormIsRecordedAndNotRebuiltFromTheFile(@TempDir Path tmp) throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        TrainConfig config = TinyRun.config(tmp.resolve("out"), 5).with(Map.of("bias", "false"));
        Gpt model = Gpt.withNorm(Trainer.modelConfig(config, data.tokenizer().vocabSize()), 1, ScaleNorm::new);
        Path file = tmp.resolve("custom.zip");
        quill.optim.AdamW adamW = new quill.optim.AdamW(model.parameters(), 0.9, 0.99, 1e-8, 0.1);
        new CheckpointWriter().write(file, config, data.tokenizer(),
                new TrainingState(0, -1, 9, new long[]{1}, new int[]{0}, 0), model, adamW);
        Checkpoint ckpt = Checkpoint.load(file);
        assertTrue(ckpt.customNorm().endsWith("ScaleNorm"), ckpt.customNorm());
        IOException e = assertThrows(IOException.class, ckpt::newModel);
        assertTrue(e.getMessage().contains("custom norm") && e.getMessage().contains("ScaleNorm::new"), e.getMessage());
        e = assertThrows(IOException.class, () -> ckpt.loadWeights(new Gpt(model.config(), 1)));
        assertTrue(e.getMessage().contains("with norm"), e.getMessage());
        Gpt again = Gpt.withNorm(model.config(), 2, ScaleNorm::new);
        ckpt.loadWeights(again);                                          // the same class: loads
        assertEquals(model.parameters().get("transformer.wte.weight").value(),
                again.parameters().get("transformer.wte.weight").value());
    }

    @Test
    void compareNamesEachRunByWhatDiffers(@TempDir Path tmp) throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Path base = tmp.resolve("base"), rope = tmp.resolve("rope");
        TinyRun.trainer(TinyRun.config(base, 10), data, new StringWriter()).run(null);
        TinyRun.trainer(TinyRun.config(rope, 10).with(Map.of("pos", "rope", "learning-rate", "2e-2")), data,
                new StringWriter()).run(null);
        RunComparison c = RunComparison.load(List.of(base, rope));
        assertEquals(Map.of("pos", "learned", "learning-rate", "0.01"), c.runs().get(0).differences());
        assertEquals(Map.of("pos", "rope", "learning-rate", "0.02"), c.runs().get(1).differences());
        assertEquals("rope pos=rope learning-rate=0.02", RunComparison.label(c.runs().get(1)));
        RunComparison.Run r = c.runs().get(1);
        assertEquals(10, r.lastIter());
        assertTrue(r.wallSeconds() > 0 && r.medianMs() > 0 && r.parameters() > 0, r.toString());
        String table = c.table();
        assertTrue(table.contains("pos=rope learning-rate=0.02") && table.contains("best val (iter)"), table);
        Path png = tmp.resolve("c.png");
        c.draw(png);
        assertTrue(javax.imageio.ImageIO.read(png.toFile()).getWidth() > 1000);
    }
}
