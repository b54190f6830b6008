package quill.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import quill.checkpoint.Checkpoint;
import quill.data.DatasetPreparer;
import quill.train.FineTune;
import quill.train.MetricsLog;
import quill.data.PreparedData;
import quill.checkpoint.RunLock;
import quill.train.TrainConfig;
import quill.train.Trainer;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        modelTransformer = TrainCommand.SettingFlags.class,
        description = {
                "Train a GPT on a prepared dataset, nanoGPT's recipe: AdamW, warm-up then cosine learning rate,"
                        + " gradient clipping, periodic evals, checkpoints.",
                "Settings come from the preset (default shakespeare_char_cpu), then --config FILE, then single"
                        + " settings given as flags; see presets/*.properties for what each does.",
                "With no arguments it prepares data/shakespeare_char when needed and trains the CPU preset."},
        footer = {"",
                "A run leaves in --out-dir: ckpt-last.zip, ckpt-best.zip, metrics.jsonl, loss.png, config.properties.",
                "Ctrl-C saves a checkpoint; --resume continues from it."})
public final class TrainCommand implements Callable<Integer> {

    @Option(names = "--preset", paramLabel = "NAME",
            description = "Starting settings: shakespeare_char_cpu (default), shakespeare_char or"
                    + " shakespeare_char_speedrun.")
    String preset;

    @Option(names = "--config", paramLabel = "FILE",
            description = "A settings file in the presets' format; it overrides the preset.")
    Path configFile;

    @Parameters(index = "0", arity = "0..1", paramLabel = "CONFIG",
            description = "A settings file given as nanoGPT takes it (python train.py"
                    + " config/train_shakespeare_char.py): the same as --config.")
    Path positionalConfig;

    @Option(names = "--resume", description = "Continue from the run's last checkpoint (ckpt-last.zip in --out-dir).")
    boolean resume;

    @Option(names = "--init-from", paramLabel = "scratch|resume|RUN_OR_CKPT",
            description = "scratch (default) starts a new run, resume is --resume (nanoGPT's init_from); a run folder"
                    + " (its ckpt-best.zip, else ckpt-last.zip) or a checkpoint file starts a new run from its weights:"
                    + " fine-tuning, or LoRA with --lora-rank.")
    String initFrom;

    @Option(names = "--extend-vocab", description = "With --init-from and --input: append the characters the base's"
            + " vocabulary lacks as new ids (every old id keeps its meaning).")
    boolean extendVocab;

    /** The checkpoint a fine-tuning run starts from (--init-from RUN_OR_CKPT), or null. */
    private FineTune base;

    /** nanoGPT's flags that mean nothing here (devices, precisions, compiler, wandb): accepted, with a note. */
    @Option(names = {"--device", "--dtype", "--compile", "--backend", "--wandb_log", "--wandb_project",
            "--wandb_run_name"}, hidden = true)
    List<String> nanoGptOnly;

    @Option(names = "--input", paramLabel = "FILE",
            description = "Text to prepare the dataset from when it is not prepared yet (instead of downloading it).")
    Path input;

    @Option(names = "--data-dir", paramLabel = "DIR", defaultValue = PreparedData.DEFAULT_DATA_DIR,
            description = "Folder holding the dataset folders (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(names = "--allow-data-change",
            description = "With --resume: continue even though the dataset's text changed since the checkpoint.")
    boolean allowDataChange;

    @Option(names = "--threads", paramLabel = "N",
            description = "Worker threads, each training on its share of every batch (default: one per core, at most"
                    + " batch-size). Not a setting of the run: a resumed run may use another count.")
    Integer threads;

    // The flags of the settings themselves (--max-iters=N and the rest) are made from TrainConfig: see SettingFlags.

    @Spec
    CommandSpec spec;

    /** A new run would replace the checkpoints of the one already in {@code outDir}: never silently. */
    private static void refuseToOverwrite(Path outDir) {
        for (Path file : List.of(Checkpoint.last(outDir), Checkpoint.best(outDir))) {
            if (Files.exists(file)) {
                throw new CliException(outDir + " already holds a training run (" + file.getFileName()
                        + "): continue it with --resume, train into another --out-dir, or delete the folder to start"
                        + " over");
            }
        }
    }

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        nanoGptHabits();
        if (threads != null && threads < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--threads must be at least 1, got "
                    + threads);
        }
        Map<String, String> overrides = overrides();
        TrainConfig config = usage(() -> settings(presetName()).with(overrides));
        String loraRank = overrides.get("lora-rank");
        if (loraRank != null && Integer.parseInt(loraRank) < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--lora-rank must be at least 1, got "
                    + loraRank + " (leave it out to fine-tune every weight)");
        }
        if (base != null) {
            TrainConfig user = config;
            config = usage(() -> base.settings(user, explicit(overrides)));
        } else if (config.lora() != null && !resume) {
            throw new CommandLine.ParameterException(spec.commandLine(), "LoRA adapts a trained model: give the run or"
                    + " checkpoint to adapt with --init-from RUN_OR_CKPT");
        }
        if (extendVocab && base == null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--extend-vocab extends the vocabulary of"
                    + " --init-from's checkpoint: give --init-from RUN_OR_CKPT");
        }
        Path outDir = Path.of(config.outDir());
        Checkpoint checkpoint = null;
        String loaded = null;
        Path resumeFile = resume ? resumeFile(outDir, out) : null;
        if (resume) {
            loaded = stamp(resumeFile);
            checkpoint = Checkpoint.load(resumeFile);
            config = resumed(checkpoint, overrides);
        } else {
            refuseToOverwrite(outDir);
        }
        PreparedData data = data(config, out);
        if (base != null) {
            int added = base.checkVocabulary(data, config.dataset());
            if (added > 0) out.printf("vocabulary: the base's %d ids and %d new ones from dataset %s%n",
                    base.base().tokenizer().vocabSize(), added, config.dataset());
        }
        if (checkpoint != null) {
            Trainer.checkResumable(checkpoint, config, data.tokenizer());
            Trainer.checkSameData(checkpoint, data, allowDataChange);
        }
        // nothing above wrote to the run folder; from here on this process is the only one that does
        try (RunLock lock = RunLock.acquire(outDir, resume ? "quill train --resume" : "quill train")) {
            if (resume) {
                if (!stamp(resumeFile).equals(loaded)) {               // another run wrote it meanwhile: check again
                    checkpoint = Checkpoint.load(resumeFile);
                    config = resumed(checkpoint, overrides);
                    Trainer.checkResumable(checkpoint, config, data.tokenizer());
                }
                int iter = checkpoint.state().iter();
                if (iter > config.maxIters() || iter == config.maxIters()
                        && MetricsLog.hasFullEval(outDir.resolve("metrics.jsonl"), iter)) {
                    Trainer.removeLeftovers(outDir, out);
                    out.printf("nothing to do: the run in %s has done %d iterations and --max-iters is %d; raise"
                            + " --max-iters to continue it%n", outDir, iter, config.maxIters());
                    return 0;
                }
                if (iter == config.maxIters()) {   // killed after its last checkpoint: the loop only finishes it
                    out.printf("the run in %s was stopped after its last checkpoint (iteration %d) and before its"
                            + " end: finishing it%n", outDir, iter);
                }
            } else {
                refuseToOverwrite(outDir);
            }
            return train(config, data, checkpoint, out);
        }
    }

    /**
     * The checkpoint {@code --resume} continues from: ckpt-last.zip; or, when a run was killed during its first save
     * (ckpt-best.zip is written first, then copied to ckpt-last.zip), ckpt-best.zip, which then holds the same state.
     */
    private static Path resumeFile(Path outDir, PrintWriter out) {
        Path last = Checkpoint.last(outDir), best = Checkpoint.best(outDir);
        if (Files.exists(last, java.nio.file.LinkOption.NOFOLLOW_LINKS) || !Files.isRegularFile(best)) return last;
        out.printf("note: %s has %s but no %s (a run was killed during its first save): resuming from %s%n", outDir,
                best.getFileName(), last.getFileName(), best.getFileName());
        return best;
    }

    /** Which file stands at {@code path} and when it was written: a rename over it changes this. */
    private static String stamp(Path path) {
        try {
            BasicFileAttributes a = Files.readAttributes(path, BasicFileAttributes.class);
            return a.fileKey() + " " + a.lastModifiedTime() + " " + a.size();
        } catch (IOException e) {
            return "none";
        }
    }

    /** The resumed run's own settings, where only what is given explicitly changes. */
    private TrainConfig resumed(Checkpoint ckpt, Map<String, String> overrides) throws IOException {
        return usage(() -> ckpt.config().with(preset == null ? overrides : settings(preset).with(overrides).toMap()));
    }

    private int train(TrainConfig config, PreparedData data, Checkpoint checkpoint, PrintWriter out)
            throws IOException {
        out.println("settings (" + (resume ? "resumed run" : "preset " + presetName())
                + (configFile != null ? ", " + configFile : "") + ", flags):");
        printSettings(out, config);
        out.flush();

        boolean terminal = System.console() != null;
        Trainer trainer = new Trainer(config, data, out, terminal);
        if (base != null) trainer.initFrom(base);
        if (threads != null) trainer.threads(threads);
        trainer.allowDataChange(allowDataChange);
        // Ctrl-C: the loop saves a checkpoint at its next iteration; the JVM waits for that here
        Thread onInterrupt = new Thread(() -> {
            trainer.requestStop();
            try {
                trainer.awaitFinished(5, TimeUnit.MINUTES);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }, "quill-train-stop");
        Runtime.getRuntime().addShutdownHook(onInterrupt);
        try {
            return trainer.run(checkpoint) == Trainer.Outcome.STOPPED ? 130 : 0;
        } catch (Trainer.DivergedException e) {
            throw new CliException(e.getMessage(), e);
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(onInterrupt);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running: it is what stopped us
            }
        }
    }

    /** The preset's name: --preset, else the default one. */
    private String presetName() {
        return preset == null ? TrainConfig.DEFAULT_PRESET : preset;
    }

    /** The preset, overridden by --config. */
    private TrainConfig settings(String presetName) throws IOException {
        TrainConfig base = TrainConfig.preset(presetName);
        return configFile == null ? base
                : base.with(TrainConfig.readFile(configFile, n -> spec.commandLine().getErr().println("note: " + n)));
    }

    /** nanoGPT's ways of saying things: its config file as an argument, --init_from, and flags Quill has no use for. */
    private void nanoGptHabits() throws IOException {
        if (positionalConfig != null) {
            if (configFile != null) {
                throw new CommandLine.ParameterException(spec.commandLine(), "give the settings file once: "
                        + positionalConfig + " or --config " + configFile);
            }
            configFile = positionalConfig;
        }
        if (initFrom != null) {
            switch (initFrom) {
                case "resume" -> resume = true;
                case "scratch" -> { }
                default -> {
                    if (initFrom.startsWith("gpt2")) {
                        throw new CommandLine.ParameterException(spec.commandLine(), "--init-from must be scratch,"
                                + " resume or a run folder or checkpoint, got '" + initFrom + "' (OpenAI's GPT-2"
                                + " weights use a BPE vocabulary Quill does not load)");
                    }
                    if (resume) {
                        throw new CommandLine.ParameterException(spec.commandLine(), "--resume continues the run in"
                                + " --out-dir; --init-from " + initFrom + " starts a new one: give one of them");
                    }
                    base = FineTune.open(Path.of(initFrom));
                }
            }
        }
        if (nanoGptOnly != null) {
            List<String> given = spec.commandLine().getParseResult().originalArgs().stream()
                    .filter(a -> a.startsWith("--") && TrainConfig.NANOGPT_ONLY.contains(a.substring(2).split("=")[0]))
                    .map(a -> a.split("=")[0]).toList();
            spec.commandLine().getErr().println("note: ignored nanoGPT's " + String.join(", ", given)
                    + ": Quill trains on the CPU, in float32, without wandb");
        }
    }

    private interface SettingsSource {
        TrainConfig get() throws IOException;
    }

    /** Unknown, ill-typed or contradictory settings are usage errors (exit 2), as picocli's own are. */
    private TrainConfig usage(SettingsSource source) throws IOException {
        try {
            return source.get();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
    }

    /** The settings given as flags, kebab-case name to value, as picocli parsed and type-checked them. */
    private Map<String, String> overrides() {
        Map<String, String> map = new LinkedHashMap<>();
        for (String key : TrainConfig.KEYS) {
            Object value = spec.findOption("--" + key).getValue();
            if (value != null) map.put(key, String.valueOf(value));
        }
        return map;
    }

    /** The settings given explicitly, as flags or in the --config file: what a fine-tuned run may not contradict. */
    private Map<String, String> explicit(Map<String, String> flags) throws IOException {
        Map<String, String> given = new LinkedHashMap<>();
        if (configFile != null) given.putAll(TrainConfig.readFile(configFile, n -> { }));
        given.putAll(flags);
        return given;
    }

    /** The prepared dataset, preparing the default one (or any, given --input) first when needed. */
    private PreparedData data(TrainConfig config, PrintWriter out) throws IOException {
        String name = config.dataset();
        if (!PreparedData.isPrepared(dataDir, name)) {
            if (input == null && !name.equals(PreparedData.DEFAULT_DATASET)) {
                throw new CliException("dataset " + name + " is not prepared in "
                        + PreparedData.datasetDir(dataDir, name)
                        + ": run 'quill prepare " + name + " --input FILE' first (or pass --input FILE here)");
            }
            out.println("preparing " + PreparedData.datasetDir(dataDir, name) + " ..."
                    + (base != null ? " (with the vocabulary of " + base.file() + ")" : ""));
            out.flush();
            DatasetPreparer.FineTuneSet set = base == null ? null
                    : new DatasetPreparer.FineTuneSet(base.base().tokenizer(), extendVocab, 0, 0);
            new DatasetPreparer(spec.commandLine().getErr()).prepare(dataDir, name, input, null, set);
        } else if (input != null) {
            out.println("note: " + PreparedData.datasetDir(dataDir, name) + " is already prepared, so --input is not"
                    + " used"
                    + " ('quill prepare " + name + " --input FILE' prepares it again)");
        }
        return PreparedData.load(dataDir, name);
    }

    private static void printSettings(PrintWriter out, TrainConfig config) {
        StringBuilder line = new StringBuilder(" ");
        for (Map.Entry<String, String> e : config.toMap().entrySet()) {
            String item = " " + e.getKey() + "=" + e.getValue();
            if (line.length() + item.length() > 100) {
                out.println(line);
                line = new StringBuilder(" ");
            }
            line.append(item);
        }
        out.println(line);
    }

    /**
     * A flag for every training setting, made from its declaration in {@link TrainConfig} ({@link quill.train.Setting}:
     * label and help) with picocli's programmatic API: {@code --max-iters=N}, typed as the setting is; a true/false
     * setting is a switch ({@code --bias} alone means true). Each overrides the preset and --config. The enum
     * settings stay text here, so that a wrong value gets TrainConfig's message, which lists the right ones.
     */
    static final class SettingFlags implements CommandLine.IModelTransformer {
        @Override
        public CommandSpec transform(CommandSpec spec) {
            List<OptionSpec> help = spec.options().stream().filter(o -> o.usageHelp() || o.versionHelp()).toList();
            help.forEach(spec::remove);                                    // -h and -V stay last in the help
            for (TrainConfig.Declared setting : TrainConfig.SETTINGS) {
                Class<?> type = flagType(setting.type());
                OptionSpec.Builder flag = OptionSpec.builder("--" + setting.key()).type(type)
                        .paramLabel(setting.about().label()).description(setting.about().help());
                if (type == Boolean.class) flag.arity("0..1").fallbackValue("true");
                spec.addOption(flag.build());
            }
            help.forEach(spec::addOption);
            return spec;
        }

        private static Class<?> flagType(Class<?> type) {
            if (type == int.class) return Integer.class;
            if (type == long.class) return Long.class;
            if (type == double.class) return Double.class;
            if (type == boolean.class) return Boolean.class;
            return String.class;
        }
    }
}
