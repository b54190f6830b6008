package quill.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import quill.interop.NanoGptImport;
import quill.model.GptConfig;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code quill import}: nanoGPT's checkpoint as a Quill run folder. */
@Command(name = "import", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Turn nanoGPT's ckpt.pt (and its meta.pkl) into a Quill run folder that 'quill sample',"
                + " 'quill attention' and 'quill train --resume' work on, AdamW's state included.",
                "torch.compile's _orig_mod. prefixes, bfloat16 and float16 weights and the mask buffers of PyTorch 1"
                        + " are handled; the vocabulary must be characters (a meta.pkl)."},
        footer = {"", "Example: quill import out-nanogpt/ckpt.pt --out-dir out/from-nanogpt"})
public final class ImportCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "CKPT.pt",
            description = "nanoGPT's checkpoint (its --out_dir/ckpt.pt, or that folder).")
    Path ckpt;

    @Option(names = "--meta", paramLabel = "META.pkl",
            description = "nanoGPT's vocabulary (data/<dataset>/meta.pkl); default: meta.pkl beside CKPT.pt, else"
                    + " data/<dataset>/meta.pkl under the current folder.")
    Path meta;

    @Option(names = "--out-dir", paramLabel = "RUN", required = true,
            description = "The Quill run folder to write (ckpt-last.zip, ckpt-best.zip, config.properties); it must"
                    + " not hold a run.")
    Path outDir;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        NanoGptImport.Result r = NanoGptImport.run(ckpt, meta, outDir);
        PrintWriter out = spec.commandLine().getOut();
        GptConfig c = r.model();
        out.printf(Locale.ROOT, "read %s: %d layers, %d heads, %d embd, block %d, vocab %d (%s), bias %s;"
                        + " iteration %d, best val loss %.4f, AdamW at step %d%n",
                ckpt, c.nLayer(), c.nHead(), c.nEmbd(), c.blockSize(), c.vocabSize(), r.meta(), c.bias(), r.iter(),
                r.bestValLoss(), r.adamSteps());
        for (String note : r.notes()) out.println("note: " + note);
        out.printf("wrote %s: ckpt-last.zip, ckpt-best.zip, config.properties. Next: quill sample --out-dir %s%n",
                outDir, outDir);
        return 0;
    }
}
