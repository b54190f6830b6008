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
        description = {
                "Train a GPT on a prepared dataset, nanoGPT's recipe: AdamW, warm-up then cosine learning rate,"
                        + " gradient clipping, periodic evals, checkpoints.",
                "Settings come from the preset (default shakespeare_char_cpu), then --config FILE, then single"
                        + " settings given as flags; see presets/*.properties for what each does.",
                "With no arguments it prepares data/shakespeare_char when needed and trains the CPU preset."},
        footer = {"", "A run leaves in --out-dir: ckpt-last.zip, ckpt-best.zip, metrics.jsonl, loss.png, config.properties.",
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

    // The settings: each overrides the preset and --config. Names are nanoGPT's, in kebab-case.
    @Option(names = "--dataset", paramLabel = "NAME", description = "Dataset folder under --data-dir.") String dataset;
    @Option(names = "--out-dir", paramLabel = "DIR", description = "Where the run's files go (default out/<preset>).") String outDir;
    @Option(names = "--eval-interval", paramLabel = "N", description = "Evaluate every N iterations.") Integer evalInterval;
    @Option(names = "--log-interval", paramLabel = "N", description = "A console line every N iterations when not on a terminal.") Integer logInterval;
    @Option(names = "--health-interval", paramLabel = "N", description = "Record weight, gradient, update and"
            + " activation statistics every N iterations (0: off); 'quill report' draws them.") Integer healthInterval;
    @Option(names = "--eval-iters", paramLabel = "N", description = "Batches per loss estimate.") Integer evalIters;
    @Option(names = "--always-save-checkpoint", arity = "0..1", fallbackValue = "true", paramLabel = "BOOL",
            description = "Save at every eval, not only when val loss improves.") Boolean alwaysSaveCheckpoint;
    @Option(names = "--target-val-loss", paramLabel = "X", description = "Stop at the first eval whose val loss is at"
            + " most X once the whole val split confirms it, and report the time to it (0: off).") Double targetValLoss;
    @Option(names = "--gradient-accumulation-steps", paramLabel = "N", description = "Micro-batches per optimizer step.") Integer gradientAccumulationSteps;
    @Option(names = "--batch-size", paramLabel = "N", description = "Sequences per micro-batch.") Integer batchSize;
    @Option(names = "--block-size", paramLabel = "N", description = "Context length in tokens.") Integer blockSize;
    @Option(names = "--n-layer", paramLabel = "N", description = "Transformer blocks.") Integer nLayer;
    @Option(names = "--n-head", paramLabel = "N", description = "Attention heads per block.") Integer nHead;
    @Option(names = "--n-embd", paramLabel = "N", description = "Embedding width.") Integer nEmbd;
    @Option(names = "--dropout", paramLabel = "P", description = "Dropout probability in training.") Double dropout;
    @Option(names = "--bias", arity = "0..1", fallbackValue = "true", paramLabel = "BOOL",
            description = "Biases in Linear and LayerNorm layers.") Boolean bias;
    // The architecture switches (nanoGPT's by default); see README, "The researchers' lab".
    @Option(names = "--norm", paramLabel = "KIND", description = "layernorm (default) or rmsnorm.") String norm;
    @Option(names = "--pos", paramLabel = "KIND", description = "Positions: learned (default), rope or none.") String pos;
    @Option(names = "--rope-base", paramLabel = "B", description = "RoPE's base (default 10000).") Double ropeBase;
    @Option(names = "--mlp", paramLabel = "KIND", description = "gelu (default), relu2 or swiglu.") String mlp;
    @Option(names = "--mlp-hidden", paramLabel = "N", description = "MLP hidden width (0: 4 * n-embd).") Integer mlpHidden;
    @Option(names = "--qk-norm", arity = "0..1", fallbackValue = "true", paramLabel = "BOOL",
            description = "Normalise q and k of every head (RMS) before attention.") Boolean qkNorm;
    @Option(names = "--tie-embeddings", arity = "0..1", fallbackValue = "true", paramLabel = "BOOL",
            description = "lm_head shares wte's weight (default true).") Boolean tieEmbeddings;
    @Option(names = "--logit-softcap", paramLabel = "C", description = "Logits become C tanh(logits / C) (0: off).") Double logitSoftcap;
    @Option(names = "--optimizer", paramLabel = "NAME", description = "adamw (default), or muon for the block matrices"
            + " and AdamW for the rest.") String optimizer;
    @Option(names = "--muon-lr", paramLabel = "LR", description = "Muon's peak learning rate (default 0.02).") Double muonLr;
    @Option(names = "--muon-momentum", paramLabel = "M", description = "Muon's momentum (default 0.95).") Double muonMomentum;
    @Option(names = "--muon-nesterov", arity = "0..1", fallbackValue = "true", paramLabel = "BOOL",
            description = "Nesterov momentum in Muon (default true).") Boolean muonNesterov;
    @Option(names = "--muon-ns-steps", paramLabel = "N", description = "Newton-Schulz steps (default 5).") Integer muonNsSteps;
    @Option(names = "--muon-weight-decay", paramLabel = "WD", description = "Muon's decoupled weight decay (default 0).") Double muonWeightDecay;
    @Option(names = "--learning-rate", paramLabel = "LR", description = "Peak learning rate.") Double learningRate;
    @Option(names = "--max-iters", paramLabel = "N", description = "Optimizer steps in all.") Integer maxIters;
    @Option(names = "--weight-decay", paramLabel = "WD", description = "AdamW's decoupled weight decay.") Double weightDecay;
    @Option(names = "--beta1", paramLabel = "B", description = "AdamW's first-moment decay.") Double beta1;
    @Option(names = "--beta2", paramLabel = "B", description = "AdamW's second-moment decay.") Double beta2;
    @Option(names = "--grad-clip", paramLabel = "NORM", description = "Clip the global gradient norm (0: off).") Double gradClip;
    @Option(names = "--decay-lr", arity = "0..1", fallbackValue = "true", paramLabel = "BOOL",
            description = "Warm-up and cosine decay (false: constant learning rate).") Boolean decayLr;
    @Option(names = "--warmup-iters", paramLabel = "N", description = "Linear warm-up iterations.") Integer warmupIters;
    @Option(names = "--lr-decay-iters", paramLabel = "N", description = "Iteration where the cosine reaches min-lr.") Integer lrDecayIters;
    @Option(names = "--min-lr", paramLabel = "LR", description = "Learning-rate floor.") Double minLr;
    @Option(names = "--seed", paramLabel = "N", description = "Seeds weights, batches and dropout.") Long seed;
    // LoRA (Hu et al. 2021), with --init-from: adapters on the frozen base; PEFT's names and defaults.
    @Option(names = "--lora-rank", paramLabel = "R", description = "LoRA: train rank-R adapters B A on the targets,"
            + " the base frozen (default 0: every weight trains).") Integer loraRank;
    @Option(names = "--lora-alpha", paramLabel = "A", description = "LoRA: the adapters' output is scaled by A / R"
            + " (default 8, PEFT's).") Double loraAlpha;
    @Option(names = "--lora-dropout", paramLabel = "P", description = "LoRA: dropout on the adapters' input (default 0).")
    Double loraDropout;
    @Option(names = "--lora-targets", paramLabel = "LIST", description = "LoRA: the layers, comma-separated, by the end"
            + " of their names: c_attn (default), c_proj (attn.c_proj and mlp.c_proj), attn.c_proj, mlp.c_proj, c_fc,"
            + " lm_head (untied only).") String loraTargets;

    @Spec
    CommandSpec spec;

    /** A new run would replace the checkpoints of the one already in {@code outDir}: never silently. */
    private static void refuseToOverwrite(Path outDir) {
        for (Path file : List.of(Checkpoint.last(outDir), Checkpoint.best(outDir))) {
            if (Files.exists(file)) {
                throw new CliException(outDir + " already holds a training run (" + file.getFileName()
                        + "): continue it with --resume, train into another --out-dir, or delete the folder to start over");
            }
        }
    }

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        nanoGptHabits();
        if (threads != null && threads < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--threads must be at least 1, got " + threads);
        }
        Map<String, String> overrides = overrides();
        TrainConfig config = usage(() -> settings(preset == null ? TrainConfig.DEFAULT_PRESET : preset).with(overrides));
        if (loraRank != null && loraRank < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--lora-rank must be at least 1, got " + loraRank
                    + " (leave it out to fine-tune every weight)");
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
        if (resume) {
            loaded = stamp(Checkpoint.last(outDir));
            checkpoint = Checkpoint.load(Checkpoint.last(outDir));
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
            if (checkpoint.state().iter() >= config.maxIters()) {
                out.printf("nothing to do: the run in %s has done %d iterations and --max-iters is %d; raise"
                        + " --max-iters to continue it%n", outDir, checkpoint.state().iter(), config.maxIters());
                return 0;
            }
        }
        // nothing above wrote to the run folder; from here on this process is the only one that does
        try (RunLock lock = RunLock.acquire(outDir, resume ? "quill train --resume" : "quill train")) {
            if (resume) {
                if (!stamp(Checkpoint.last(outDir)).equals(loaded)) { // another run wrote it meanwhile: check again
                    checkpoint = Checkpoint.load(Checkpoint.last(outDir));
                    config = resumed(checkpoint, overrides);
                    Trainer.checkResumable(checkpoint, config, data.tokenizer());
                }
            } else {
                refuseToOverwrite(outDir);
            }
            return train(config, data, checkpoint, out);
        }
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
        out.println("settings (" + (resume ? "resumed run" : "preset " + (preset == null ? TrainConfig.DEFAULT_PRESET : preset))
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
        for (OptionSpec option : spec.options()) {
            String key = option.longestName().substring(2);
            Object value = option.getValue();
            if (TrainConfig.KEYS.contains(key) && value != null) map.put(key, String.valueOf(value));
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
                throw new CliException("dataset " + name + " is not prepared in " + PreparedData.datasetDir(dataDir, name)
                        + ": run 'quill prepare " + name + " --input FILE' first (or pass --input FILE here)");
            }
            out.println("preparing " + PreparedData.datasetDir(dataDir, name) + " ..."
                    + (base != null ? " (with the vocabulary of " + base.file() + ")" : ""));
            out.flush();
            DatasetPreparer.FineTuneSet set = base == null ? null
                    : new DatasetPreparer.FineTuneSet(base.base().tokenizer(), extendVocab, 0, 0);
            new DatasetPreparer(spec.commandLine().getErr()).prepare(dataDir, name, input, null, set);
        } else if (input != null) {
            out.println("note: " + PreparedData.datasetDir(dataDir, name) + " is already prepared, so --input is not used"
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
}
