package quill.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainCommandTest {

    @TempDir
    Path tmp;

    /** A tiny run on a tiny text, prepared from --input on first use; {@code extra} flags replace the defaults. */
    private CliRun train(String... extra) throws IOException {
        Path input = tmp.resolve("tiny.txt");
        if (!Files.exists(input)) Files.writeString(input, "To be, or not to be, that is the question:\n".repeat(50));
        List<String> defaults = List.of("--data-dir", tmp.resolve("data").toString(),
                "--input", input.toString(), "--dataset", "tiny", "--out-dir", tmp.resolve("out").toString(),
                "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4",
                "--eval-interval", "3", "--eval-iters", "2", "--warmup-iters", "2", "--lr-decay-iters", "10");
        List<String> args = new ArrayList<>(List.of("train"));
        for (int i = 0; i < defaults.size(); i += 2) {
            if (!List.of(extra).contains(defaults.get(i))) args.addAll(defaults.subList(i, i + 2));
        }
        args.addAll(List.of(extra));
        return CliRun.quill(args.toArray(String[]::new));
    }

    @Test
    void trainsPrintsItsSettingsAndResumes() throws IOException {
        CliRun first = train("--max-iters", "6");
        assertEquals(0, first.exitCode(), first.err());
        assertTrue(first.out().contains("max-iters=6"), first.out());
        assertTrue(first.out().contains("eval 6: train loss"), first.out());
        for (String f : List.of("ckpt-last.zip", "ckpt-best.zip", "metrics.jsonl", "loss.png", "config.properties")) {
            assertTrue(Files.exists(tmp.resolve("out").resolve(f)), f);
        }

        byte[] trained = Files.readAllBytes(tmp.resolve("out").resolve("ckpt-last.zip"));
        CliRun again = train("--max-iters", "6");
        assertEquals(1, again.exitCode(), again.err());
        assertTrue(again.err().startsWith("error: " + tmp.resolve("out") + " already holds a training run"),
                again.err());
        assertTrue(again.err().contains("--resume"), again.err());
        assertArrayEquals(trained, Files.readAllBytes(tmp.resolve("out").resolve("ckpt-last.zip")));

        CliRun resumed = train("--resume", "--max-iters", "9");
        assertEquals(0, resumed.exitCode(), resumed.err());
        assertTrue(resumed.out().contains("resuming from"), resumed.out());
        assertTrue(resumed.out().contains("eval 9: train loss"), resumed.out());

        CliRun contradicting = train("--resume", "--n-embd", "32");
        assertEquals(1, contradicting.exitCode(), contradicting.err());
        assertTrue(contradicting.err().startsWith("error: cannot resume from"), contradicting.err());
        assertTrue(contradicting.err().contains("n-embd 16 but the settings say 32"), contradicting.err());
    }

    @Test
    void unknownIllTypedAndInvalidSettingsAreUsageErrors() throws IOException {
        Path config = Files.writeString(tmp.resolve("mine.properties"), "max-iters = 10\nlearning_rat = 1e-3\n");
        CliRun unknownInFile = CliRun.quill("train", "--config", config.toString());
        assertEquals(2, unknownInFile.exitCode());
        assertTrue(unknownInFile.err().contains("unknown setting 'learning_rat' in " + config), unknownInFile.err());

        CliRun illTyped = CliRun.quill("train", "--max-iters", "lots");
        assertEquals(2, illTyped.exitCode());
        assertTrue(illTyped.err().contains("--max-iters"), illTyped.err());

        CliRun unknownFlag = CliRun.quill("train", "--max-iter", "10");
        assertEquals(2, unknownFlag.exitCode());

        CliRun invalid = CliRun.quill("train", "--n-head", "3");
        assertEquals(2, invalid.exitCode());
        assertTrue(invalid.err().contains("n-embd (128) must be a positive multiple of n-head (3)"), invalid.err());

        CliRun noThreads = CliRun.quill("train", "--threads", "0");
        assertEquals(2, noThreads.exitCode());
        assertTrue(noThreads.err().contains("--threads must be at least 1, got 0"), noThreads.err());
    }

    /** A usage error is the wrong line and where the help is, not picocli's whole usage text. */
    @Test
    void aUsageErrorIsTheWrongLineAndAPointerToHelp() {
        for (String[] args : List.of(new String[]{"train", "--max-iter", "10"},
                new String[]{"train", "--max-iters", "lots"}, new String[]{"sample", "--top-k", "many"},
                new String[]{"export", "--format", "onnx", "--out", "x"})) {
            CliRun r = CliRun.quill(args);
            assertEquals(2, r.exitCode(), r.err());
            assertTrue(r.err().startsWith("error: "), r.err());
            assertTrue(r.err().strip().endsWith("see 'quill " + args[0] + " --help' for every option"), r.err());
            assertTrue(r.err().lines().count() <= 3 && !r.err().contains("Usage:"), r.err());
        }
    }

    /** nanoGPT's spellings: --n_layer=1, its Python config files, --init_from=resume, its flags for GPUs. */
    @Test
    void nanoGptsSettingNamesConfigFilesAndInitFromWork() throws IOException {
        Path config = Files.writeString(tmp.resolve("train_tiny.py"), """
                # a nanoGPT config file (train() gives --out-dir, which wins over the file's)
                out_dir = 'out-tiny'
                eval_interval = 3 # keep frequent
                always_save_checkpoint = False
                wandb_log = False # override via command line if you like
                dataset = "tiny"
                n_layer = 1
                """);
        CliRun first = train(config.toString(), "--max_iters=4", "--learning_rate=0.002", "--device=cpu",
                "--compile=False");
        assertEquals(0, first.exitCode(), first.err());
        assertTrue(first.err().contains("note: ignored nanoGPT's --device, --compile"), first.err());
        assertTrue(first.err().contains("note: ignored nanoGPT's wandb_log in " + config), first.err());
        assertTrue(first.out().contains("max-iters=4") && first.out().contains("learning-rate=0.002"), first.out());
        assertTrue(first.out().contains("eval 3: train loss"), first.out());

        CliRun resumed = train(config.toString(), "--init_from=resume", "--max_iters=6");
        assertEquals(0, resumed.exitCode(), resumed.err());
        assertTrue(resumed.out().contains("resuming from " + tmp.resolve("out").resolve("ckpt-last.zip")),
                resumed.out());

        CliRun gpt2 = train("--init_from=gpt2");
        assertEquals(2, gpt2.exitCode());
        assertTrue(gpt2.err().startsWith("error: --init-from must be scratch, resume or a run folder or checkpoint,"
                + " got 'gpt2'"), gpt2.err());
    }

    @Test
    void missingDataNamesTheCommandThatPreparesIt() {
        CliRun r = CliRun.quill("train", "--dataset", "novels", "--data-dir", tmp.resolve("data").toString());
        assertEquals(1, r.exitCode());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().contains("run 'quill prepare novels --input FILE'"), r.err());
    }

    @Test
    void resumingWithoutACheckpointSaysSo() {
        CliRun r = CliRun.quill("train", "--resume", "--out-dir", tmp.resolve("nothing").toString());
        assertEquals(1, r.exitCode());
        assertTrue(r.err().startsWith("error: no checkpoint at " + tmp.resolve("nothing").resolve("ckpt-last.zip")),
                r.err());
    }

    /** Every setting is a flag, made from its declaration: listed in --help with its description, typed as it is. */
    @Test
    void everySettingIsAFlagWithItsHelp() {
        CliRun help = CliRun.quill("train", "--help");
        assertEquals(0, help.exitCode(), help.err());
        String text = help.out().replaceAll("\\s+", "");                 // picocli wraps the descriptions
        for (quill.train.TrainConfig.Declared s : quill.train.TrainConfig.SETTINGS) {
            String flag = "--" + s.key() + (s.type() == boolean.class ? "[=BOOL]" : "=" + s.about().label());
            assertTrue(text.contains(flag + s.about().help().replaceAll("\\s+", "")), flag);
        }
        assertTrue(text.indexOf("--lora-targets") < text.indexOf("-h,--help"), "the help options stay last");

        picocli.CommandLine cli = Quill.commandLine();
        cli.parseArgs("train", "--bias", "--qk-norm=false", "--seed", "7", "--norm", "rmsnorm");
        picocli.CommandLine.Model.CommandSpec train = cli.getSubcommands().get("train").getCommandSpec();
        java.util.function.Function<String, Object> value = flag -> train.findOption(flag).getValue();
        assertEquals(true, value.apply("--bias"), "a switch alone is true");
        assertEquals(false, value.apply("--qk-norm"));
        assertEquals(7L, value.apply("--seed"));
        assertEquals("rmsnorm", value.apply("--norm"));
        assertEquals(null, value.apply("--max-iters"), "a flag not given leaves the preset's value");
    }
}
