package quill.interop;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import quill.cli.Quill;
import quill.model.Architecture;
import quill.checkpoint.Checkpoint;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code quill export} and {@code quill import} as a user runs them:
 * the workflow, and one clear line for bad input.
 */
class ExportImportCommandTest {
    @TempDir
    Path tmp;
    private Path run;

    private record Run(int code, String out, String err) {
    }

    private static Run quill(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code = Quill.commandLine().setOut(new PrintWriter(out, true)).setErr(new PrintWriter(err, true))
                .execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    /** Exit code 1 and exactly one line on stderr, "error: ..." containing {@code expected}, no stack trace. */
    private static void assertOneLineError(Run r, String expected) {
        assertEquals(1, r.code(), r.err());
        String[] lines = r.err().strip().split("\n");
        assertEquals(1, lines.length, r.err());
        assertTrue(lines[0].startsWith("error: ") && lines[0].contains(expected), r.err());
    }

    @BeforeEach
    void writeRun() throws IOException {
        run = tmp.resolve("run");
        Files.createDirectories(run);
        TinyCheckpoint.write(Checkpoint.last(run), false, Architecture.NANOGPT);
    }

    @Test
    void anExportedRunImportsBackAndSamplesDrawsAttentionAndResumes() throws IOException {
        Run export = quill("export", "--out-dir", run.toString(), "--format", "nanogpt",
                "--out", tmp.resolve("nano").toString());
        assertEquals(0, export.code(), export.err());
        assertTrue(export.out().startsWith("wrote " + tmp.resolve("nano").resolve("ckpt.pt")
                + " (iteration 3, for PyTorch 2;"), export.out());
        assertTrue(export.out().contains("python sample.py --out_dir=" + tmp.resolve("nano")), export.out());

        Path back = tmp.resolve("back");
        Run imported = quill("import", tmp.resolve("nano").toString(), "--out_dir=" + back);   // nanoGPT's out_dir
        assertEquals(0, imported.code(), imported.err());
        assertTrue(imported.out().contains("iteration 3, best val loss 3.2500, AdamW at step 3"), imported.out());

        Run sample = quill("sample", "--out_dir=" + back, "--num_samples=1", "--max_new_tokens=20", "--start", "F");
        assertEquals(0, sample.code(), sample.err());
        assertEquals(1, sample.out().lines().filter(l -> l.equals("---------------")).count(),
                "one sample: " + sample.out());
        Run attention = quill("attention", "--out-dir", back.toString(), "--start", "First");
        assertEquals(0, attention.code(), attention.err());

        Path data = tmp.resolve("data");
        Files.createDirectories(data);
        Files.writeString(data.resolve("tiny.txt"), TinyCheckpoint.TEXT.repeat(20));
        Run resumed = quill("train", "--resume", "--out-dir", back.toString(), "--data-dir", data.toString(),
                "--dataset", "tiny", "--input", data.resolve("tiny.txt").toString(), "--max-iters", "5",
                "--eval-iters", "2", "--threads", "1");
        assertEquals(0, resumed.code(), resumed.err() + resumed.out());
        assertTrue(resumed.out().contains("resuming from " + Checkpoint.last(back) + " at iteration 3"), resumed.out());
        assertEquals(5, Checkpoint.load(Checkpoint.last(back)).state().iter());
    }

    @Test
    void exportRefusesWhatNanoGptCannotBuildAndNeverOverwrites() throws IOException {
        Path rms = tmp.resolve("rms");
        Files.createDirectories(rms);
        TinyCheckpoint.write(Checkpoint.last(rms), false, new Architecture(Architecture.NormType.RMSNORM,
                Architecture.PosType.ROPE, 10000, Architecture.MlpType.GELU, 0, false, true, 0));
        Path out = tmp.resolve("nano");
        assertOneLineError(quill("export", "--out-dir", rms.toString(), "--out", out.toString()),
                "its model has norm=rmsnorm pos=rope, which nanoGPT's model.py cannot build");
        assertFalse(Files.exists(out), "nothing is written");

        assertEquals(0, quill("export", "--ckpt", Checkpoint.last(run).toString(), "--out", out.toString()).code());
        long size = Files.size(out.resolve("ckpt.pt"));
        assertOneLineError(quill("export", "--out-dir", run.toString(), "--out", out.toString()),
                out + " already holds a ckpt.pt");
        assertEquals(size, Files.size(out.resolve("ckpt.pt")));

        Run both = quill("export", "--out-dir", run.toString(), "--ckpt", Checkpoint.last(run).toString(),
                "--out", "x");
        assertEquals(2, both.code());
        assertOneLineError(quill("export", "--out-dir", tmp.resolve("nothing").toString(), "--out", "x"),
                "no checkpoint at");
    }

    @Test
    void importRefusesBadInputWithOneClearLine() throws IOException {
        Path nano = tmp.resolve("nano");
        assertEquals(0, quill("export", "--out-dir", run.toString(), "--out", nano.toString()).code());
        Path ckpt = nano.resolve("ckpt.pt");
        Path back = tmp.resolve("back");

        Path text = Files.writeString(tmp.resolve("notes.pt"), "not a checkpoint");
        assertOneLineError(quill("import", text.toString(), "--out-dir", back.toString()),
                "is not a PyTorch checkpoint");

        byte[] bytes = Files.readAllBytes(ckpt);
        Path truncated = Files.write(tmp.resolve("truncated.pt"), Arrays.copyOf(bytes, bytes.length - 100));
        assertOneLineError(quill("import", truncated.toString(), "--out-dir", back.toString()),
                "is truncated or damaged");

        Path bare = tmp.resolve("bare.pt");
        TorchFile.write(bare, Map.of("w", TorchTensor.scalar(1)));
        assertOneLineError(quill("import", bare.toString(), "--out-dir", back.toString()),
                "is a PyTorch file but not a checkpoint of nanoGPT's train.py");

        Path llama = tmp.resolve("llama").resolve("ckpt.pt");
        Files.createDirectories(llama.getParent());
        Files.copy(nano.resolve("meta.pkl"), llama.resolveSibling("meta.pkl"));
        TorchFile.write(llama, checkpoint(27, Map.of("model.layers.0.self_attn.q_proj.weight",
                TorchTensor.of(new long[]{16, 16}, new float[256]))));
        assertOneLineError(quill("import", llama.toString(), "--out-dir", back.toString()),
                "has a weight 'model.layers.0.self_attn.q_proj.weight' that model has not (another architecture?)");

        Path gpt2 = tmp.resolve("gpt2").resolve("ckpt.pt");
        Files.createDirectories(gpt2.getParent());
        TorchFile.write(gpt2, checkpoint(50304, Map.of()));
        assertOneLineError(quill("import", gpt2.toString(), "--out-dir", back.toString()),
                "has GPT-2's BPE vocabulary (vocab_size 50304) and no meta.pkl");

        Files.delete(nano.resolve("meta.pkl"));
        assertOneLineError(quill("import", ckpt.toString(), "--out-dir", back.toString()),
                "no meta.pkl beside " + ckpt + " or in data/shakespeare_char/: pass the vocabulary with --meta");
        assertOneLineError(quill("import", ckpt.toString(), "--meta", text.toString(), "--out-dir", back.toString()),
                "is not a pickle file");
        assertFalse(Files.exists(back), "a refused import writes nothing");

        assertOneLineError(quill("import", ckpt.toString(), "--out-dir", run.toString()), run + " already holds a run");
    }

    /** A checkpoint dict of nanoGPT's form with this vocabulary size and state dict. */
    private static Map<String, Object> checkpoint(int vocab, Map<String, Object> model) {
        Map<String, Object> args = new LinkedHashMap<>(Map.of("n_layer", 1, "n_head", 2, "n_embd", 16, "block_size", 16,
                "bias", false, "vocab_size", vocab, "dropout", 0.0));
        TorchFile.OrderedDict stateDict = new TorchFile.OrderedDict();
        stateDict.putAll(model);
        Map<String, Object> ckpt = new LinkedHashMap<>();
        ckpt.put("model", stateDict);
        ckpt.put("model_args", args);
        ckpt.put("iter_num", 10);
        ckpt.put("best_val_loss", 2.0);
        ckpt.put("config", Map.of("dataset", "tiny"));
        return ckpt;
    }
}
