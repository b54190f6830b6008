package quill.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import quill.interop.NanoGptExport;
import quill.checkpoint.Checkpoint;
import quill.train.TrainConfig;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code quill export}: a run's checkpoint in nanoGPT's format, to continue it in PyTorch. */
@Command(name = "export", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Write a run's checkpoint as nanoGPT's ckpt.pt and meta.pkl, to sample from it or train it on"
                + " in PyTorch (nanoGPT's sample.py and train.py --init_from=resume, on one GPU or with torchrun).",
                "Exports ckpt-last.zip of --out-dir (the latest state, what --resume continues), or the --ckpt given."},
        footer = {"", "Example: quill export --out-dir out/shakespeare_char_cpu --format nanogpt --out out-nanogpt"})
public final class ExportCommand implements Callable<Integer> {

    /** The formats Quill writes. */
    enum Format { nanogpt }

    @Option(names = "--out-dir", paramLabel = "RUN",
            description = "The run's folder; its ckpt-last.zip is exported (default: the CPU preset's,"
                    + " out/shakespeare_char_cpu).")
    Path outDir;

    @Option(names = "--ckpt", paramLabel = "FILE", description = "A checkpoint file instead, e.g. RUN/ckpt-best.zip.")
    Path ckpt;

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "nanogpt",
            description = "nanogpt (default: ${DEFAULT-VALUE}): PyTorch's torch.save format, as nanoGPT's train.py"
                    + " saves.")
    Format format;

    @Option(names = "--out", paramLabel = "DIR", required = true,
            description = "The folder to write ckpt.pt, meta.pkl and train_config.py into (nanoGPT's --out_dir);"
                    + " it must not hold a ckpt.pt.")
    Path out;

    @Option(names = "--mask-buffers",
            description = "Also write each attention's causal mask attn.bias, which nanoGPT's model has on PyTorch"
                    + " before 2.0 (no flash attention) and its load_state_dict then requires; PyTorch 2 refuses it,"
                    + " so leave it off there.")
    boolean maskBuffers;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (outDir != null && ckpt != null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "give --out-dir or --ckpt, not both");
        }
        Path file = ckpt != null ? ckpt
                : Checkpoint.last(outDir != null ? outDir
                        : Path.of(TrainConfig.preset(TrainConfig.DEFAULT_PRESET).outDir()));
        Checkpoint checkpoint = Checkpoint.load(file);
        if (checkpoint.config().lora() != null) {
            throw new CliException(file + " holds LoRA adapters, not a whole model: fold them into a plain checkpoint"
                    + " with 'quill merge-lora RUN --out FILE', then export that");
        }
        NanoGptExport.export(checkpoint, out, maskBuffers);
        PrintWriter o = spec.commandLine().getOut();
        o.printf(Locale.ROOT, "wrote %s (iteration %d, %s), %s (%d characters) and %s, from %s%n",
                out.resolve(NanoGptExport.CKPT), checkpoint.state().iter(),
                maskBuffers ? "with the causal-mask buffers of PyTorch 1.x" : "for PyTorch 2; --mask-buffers for 1.x",
                NanoGptExport.META, checkpoint.tokenizer().vocabSize(), NanoGptExport.CONFIG, file);
        o.printf("in nanoGPT: copy meta.pkl, train.bin and val.bin into its data/%s/, then:%n",
                checkpoint.config().dataset());
        o.printf("  python sample.py --out_dir=%s%n", out.toAbsolutePath());
        o.printf("  python train.py %s --max_iters=N   (N > %d; add --device=cpu --compile=False on a CPU)%n",
                out.toAbsolutePath().resolve(NanoGptExport.CONFIG), checkpoint.state().iter());
        return 0;
    }
}
