package quill.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainConfigTest {

    @Test
    void thePresetsAreNanoGptsSettings() throws IOException {
        TrainConfig gpu = TrainConfig.preset("shakespeare_char");
        assertEquals(6, gpu.nLayer());
        assertEquals(6, gpu.nHead());
        assertEquals(384, gpu.nEmbd());
        assertEquals(256, gpu.blockSize());
        assertEquals(64, gpu.batchSize());
        assertEquals(0.2, gpu.dropout());
        assertFalse(gpu.bias());
        assertEquals(1e-3, gpu.learningRate());
        assertEquals(5000, gpu.maxIters());
        assertEquals(5000, gpu.lrDecayIters());
        assertEquals(1e-4, gpu.minLr());
        assertEquals(0.99, gpu.beta2());
        assertEquals(100, gpu.warmupIters());
        assertEquals(250, gpu.evalInterval());
        assertEquals(200, gpu.evalIters());
        assertEquals("out/shakespeare_char", gpu.outDir());

        TrainConfig cpu = TrainConfig.preset("shakespeare_char_cpu");
        assertEquals(gpu.with(Map.of("n-layer", "4", "n-head", "4", "n-embd", "128", "block-size", "64",
                "batch-size", "12", "max-iters", "2000", "lr-decay-iters", "2000", "dropout", "0.0", "eval-iters", "20",
                "out-dir", "out/shakespeare_char_cpu")).with(Map.of("log-interval", "" + cpu.logInterval())), cpu);
        assertEquals(768, cpu.tokensPerIter());
    }

    /** The speedrun's record is the CPU preset's data, model size and batch with the changes its README log lists. */
    @Test
    void theSpeedrunPresetIsTheCpuPresetWithTheLoggedChanges() throws IOException {
        TrainConfig cpu = TrainConfig.preset("shakespeare_char_cpu");
        TrainConfig speedrun = TrainConfig.preset("shakespeare_char_speedrun");
        assertEquals(0.0, cpu.targetValLoss(), "the CPU preset has no target");
        assertEquals(cpu.with(Map.ofEntries(Map.entry("out-dir", "out/shakespeare_char_speedrun"),
                Map.entry("target-val-loss", "1.88"), Map.entry("eval-interval", "400"),
                Map.entry("log-interval", "50"), Map.entry("health-interval", "0"),
                Map.entry("pos", "rope"), Map.entry("mlp", "relu2"), Map.entry("qk-norm", "true"),
                Map.entry("optimizer", "muon"), Map.entry("learning-rate", "2e-3"), Map.entry("max-iters", "400"),
                Map.entry("lr-decay-iters", "400"))), speedrun);
        assertTrue(TrainConfig.presetNames().contains("shakespeare_char_speedrun"));
    }

    @Test
    void overridesReplaceSingleSettings() throws IOException {
        TrainConfig c = TrainConfig.preset("shakespeare_char_cpu").with(Map.of("max-iters", "500", "bias", "true"));
        assertEquals(500, c.maxIters());
        assertTrue(c.bias());
        assertEquals(4, c.nLayer());
        assertEquals(c, TrainConfig.parseProperties(c.toProperties(), "round trip"));
    }

    @Test
    void nanoGptsSnakeCaseNamesAndPythonConfigFilesAreRead(@TempDir Path tmp) throws IOException {
        Path file = Files.writeString(tmp.resolve("train_shakespeare_char.py"), """
                # train a miniature character-level shakespeare model
                out_dir = 'out-shakespeare-char'
                eval_interval = 250 # keep frequent because we'll overfit
                always_save_checkpoint = False
                wandb_log = False # override via command line if you like
                wandb_project = 'shakespeare-char'
                dataset = "shakespeare_char"
                learning_rate = 1e-3 # with baby networks can afford to go a bit higher
                bias = True
                device = 'cpu'  # run on cpu only
                """);
        List<String> notes = new java.util.ArrayList<>();
        Map<String, String> settings = TrainConfig.readFile(file, notes::add);
        assertEquals(Map.of("out-dir", "out-shakespeare-char", "eval-interval", "250",
                "always-save-checkpoint", "False", "dataset", "shakespeare_char", "learning-rate", "1e-3",
                "bias", "True"), settings);
        assertEquals(List.of("ignored nanoGPT's wandb_log, wandb_project, device in " + file
                + ": Quill trains on the CPU, in float32, without wandb"), notes);
        TrainConfig c = TrainConfig.preset("shakespeare_char_cpu").with(settings);
        assertTrue(c.bias());
        assertFalse(c.alwaysSaveCheckpoint());
        assertEquals("max-iters", TrainConfig.canonical("max_iters"));
        assertEquals("max_iter", TrainConfig.canonical("max_iter"),
                "an unknown name stays as written, for the message");

        Path unknown = Files.writeString(tmp.resolve("bad.py"), "eval_only = True\n");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TrainConfig.readFile(unknown)).getMessage()
                .startsWith("unknown setting 'eval_only' in " + unknown));
    }

    @Test
    void unknownIllTypedAndInvalidSettingsAreNamed(@TempDir Path tmp) throws IOException {
        TrainConfig c = TrainConfig.preset("shakespeare_char_cpu");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> c.with(Map.of("max-iter", "5")))
                .getMessage().startsWith("unknown setting 'max-iter'"));
        assertEquals("setting max-iters must be a whole number, got 'lots'",
                assertThrows(IllegalArgumentException.class, () -> c.with(Map.of("max-iters", "lots"))).getMessage());
        assertEquals("n-embd (100) must be a positive multiple of n-head (3)",
                assertThrows(IllegalArgumentException.class, () -> c.with(Map.of("n-head", "3", "n-embd", "100")))
                        .getMessage());
        Path file = Files.writeString(tmp.resolve("my.properties"), "# mine\nlearning-rate = 3e-4\nwarmup = 5\n");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TrainConfig.readFile(file))
                .getMessage().startsWith("unknown setting 'warmup' in " + file));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TrainConfig.preset("huge"))
                .getMessage().startsWith("no preset named 'huge'"));
    }

    @Test
    void kebabCaseFollowsNanoGptsNames() {
        assertEquals("n-embd", TrainConfig.kebab("nEmbd"));
        assertEquals("lr-decay-iters", TrainConfig.kebab("lrDecayIters"));
        assertEquals("beta1", TrainConfig.kebab("beta1"));
        assertTrue(TrainConfig.KEYS.contains("gradient-accumulation-steps"));
    }

    /**
     * A preset is a learner's list of every setting: each names all of them, once, and nothing else (a setting
     * added to {@link TrainConfig} is added to every preset, with its comment).
     */
    @Test
    void everyPresetNamesEverySettingAndNothingElse() throws IOException {
        for (String name : TrainConfig.presetNames()) {
            java.util.Properties p = new java.util.Properties();
            try (java.io.InputStream in = TrainConfig.class.getResourceAsStream("/presets/" + name + ".properties")) {
                p.load(in);
            }
            assertEquals(new java.util.TreeSet<>(TrainConfig.KEYS), new java.util.TreeSet<>(p.stringPropertyNames()),
                    name);
            TrainConfig.preset(name);   // and every value reads
        }
    }

    /** Each setting is declared once, on its component: a flag label, a help line, and what leaving it out means. */
    @Test
    void everySettingIsDeclaredWithItsLabelAndHelp() throws IOException {
        assertEquals(TrainConfig.class.getRecordComponents().length, TrainConfig.SETTINGS.size());
        StringBuilder old = new StringBuilder();          // the CPU preset without the settings added later
        Map<String, String> absent = new java.util.HashMap<>();
        TrainConfig cpu = TrainConfig.preset("shakespeare_char_cpu");
        for (TrainConfig.Declared s : TrainConfig.SETTINGS) {
            assertFalse(s.about().label().isBlank(), s.key());
            assertTrue(s.about().help().endsWith("."), s.key());
            assertEquals(s.type() == boolean.class, s.about().label().equals("BOOL"), s.key());
            assertEquals(s.type(), TrainConfig.typeOf(s.key()));
            if (s.about().absent().isEmpty()) {
                old.append(s.key()).append(" = ").append(cpu.toMap().get(s.key())).append('\n');
            } else {
                absent.put(s.key(), s.about().absent());
            }
        }
        // a file that leaves them out (a run saved before they existed) reads as nanoGPT's, AdamW, no LoRA, no target
        TrainConfig before = TrainConfig.parseProperties(old.toString(), "an old config.properties");
        assertEquals(cpu.with(absent), before);
        assertEquals(0, before.healthInterval());
        assertEquals(quill.model.Architecture.NormType.LAYERNORM, before.norm());
        assertEquals(TrainConfig.Optimizer.ADAMW, before.optimizer());
        assertEquals(0, before.loraRank());
    }
}
