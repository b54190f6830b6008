package quill.interop;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import quill.autograd.Parameter;
import quill.cli.Quill;
import quill.optim.AdamW;
import quill.model.Architecture;
import quill.model.Gpt;
import quill.tokenizer.CharTokenizer;
import quill.checkpoint.Checkpoint;
import quill.train.LearningRateSchedule;
import quill.train.TrainConfig;
import quill.train.Trainer;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * PyTorch itself reads {@code quill export}: {@code nanogpt_check.py} (test resources) torch.loads the export, builds a
 * GPT with nanoGPT's architecture from its model_args, loads it with {@code load_state_dict(strict=True)} and
 * computes logits, which must be Quill's to 1e-5; it loads AdamW's state into nanoGPT's two groups and steps. Then
 * Quill imports what PyTorch saved the way a GPU run does (bfloat16 and float16, {@code _orig_mod.} names).
 *
 * <p>Needs a python3 with torch (Debian: {@code apt-get install python3-torch python3-numpy}, which CI's
 * {@code .ci/run} installs); without one it is skipped, with that message. {@code QUILL_PYTHON} names the interpreter.
 */
class PyTorchInteropTest {
    @TempDir
    Path tmp;

    @Test
    void pyTorchLoadsTheExportStrictlyGivesQuillsLogitsAndItsGpuStyleCheckpointImportsBack() throws Exception {
        Path quillCkpt = tmp.resolve("run").resolve(Checkpoint.LAST);
        Files.createDirectories(quillCkpt.getParent());
        Gpt model = TinyCheckpoint.write(quillCkpt, true, Architecture.NANOGPT);
        Checkpoint ckpt = Checkpoint.load(quillCkpt);
        NanoGptExport.export(ckpt, tmp.resolve("pt2"), false);
        NanoGptExport.export(ckpt, tmp.resolve("pt1"), true);

        int[][] idx = TinyCheckpoint.batch((CharTokenizer) ckpt.tokenizer())[0];
        Path script = tmp.resolve("nanogpt_check.py");
        try (InputStream in = getClass().getResourceAsStream("nanogpt_check.py")) {
            Files.copy(in, script);
        }
        String args = String.format("{\"pt2\": \"%s\", \"pt1\": \"%s\", \"idx\": %s, \"logits\": \"%s\","
                        + " \"after_step\": \"%s\", \"gpu_ckpt\": \"%s\"}", tmp.resolve("pt2"), tmp.resolve("pt1"),
                Arrays.deepToString(idx), tmp.resolve("logits.f32"), tmp.resolve("after.pt"), tmp.resolve("gpu.pt"));
        String printed = runWithTorch(script, args);

        // the same logits as Quill's
        byte[] raw = Files.readAllBytes(tmp.resolve("logits.f32"));
        float[] theirs = new float[raw.length / 4];
        ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(theirs);
        float[] ours = model.forward(idx).value().dup('c').data().asFloat();
        assertEquals(ours.length, theirs.length);
        double worst = 0;
        for (int i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i] - theirs[i]));
        assertTrue(worst <= 1e-5, "logits differ from PyTorch's by " + worst + " (" + printed + ")");

        // one more AdamW step, resumed from the exported moments and step count, lands where Quill's own does
        Gpt stepped = ckpt.newModel();
        stepped.setTraining(true);
        TrainConfig c = ckpt.config();
        AdamW adam = new AdamW(stepped.parameters(), c.beta1(), c.beta2(), Trainer.ADAM_EPS, c.weightDecay());
        ckpt.loadOptimizer(adam);
        int[][] x = new int[idx.length][], y = new int[idx.length][];
        for (int b = 0; b < idx.length; b++) {
            x[b] = Arrays.copyOf(idx[b], idx[b].length - 1);
            y[b] = Arrays.copyOfRange(idx[b], 1, idx[b].length);
        }
        stepped.forwardBackward(x, y, 1.0);
        adam.step(LearningRateSchedule.of(c).at(ckpt.state().iter()));
        Map<?, ?> after = (Map<?, ?>) TorchFile.read(tmp.resolve("after.pt"));
        double worstStep = 0;
        for (Parameter p : stepped.parameters().values()) {
            float[] a = p.value().dup('c').data().asFloat(), b = ((TorchTensor) after.get(p.name())).values();
            for (int i = 0; i < a.length; i++) worstStep = Math.max(worstStep, Math.abs(a[i] - b[i]));
        }
        assertTrue(worstStep <= 1e-5, "after one resumed AdamW step the weights differ from PyTorch's by " + worstStep);

        // what PyTorch saved comes back into Quill
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code = Quill.commandLine().setOut(new PrintWriter(out, true)).setErr(new PrintWriter(err, true)).execute(
                "import", tmp.resolve("gpu.pt").toString(), "--meta", tmp.resolve("pt2").resolve("meta.pkl").toString(),
                "--out-dir", tmp.resolve("back").toString());
        assertEquals(0, code, err.toString());
        assertTrue(out.toString().contains("iteration " + (TinyCheckpoint.ITER + 1)
                + ", best val loss 2.5000, AdamW at step " + (TinyCheckpoint.ITER + 1)), out.toString());
        assertTrue(out.toString().contains("note: removed torch.compile's prefix _orig_mod."), out.toString());
        assertTrue(out.toString().contains("note: converted bfloat16 and float16 tensors to float32"), out.toString());
        Gpt back = Checkpoint.load(Checkpoint.last(tmp.resolve("back"))).newModel();
        for (Parameter p : model.parameters().values()) {
            float[] a = p.value().dup('c').data().asFloat();
            float[] b = back.parameters().get(p.name()).value().dup('c').data().asFloat();
            for (int i = 0; i < a.length; i++) {
                assertTrue(Math.abs(a[i] - b[i]) <= Math.abs(a[i]) / 256 + 1e-7,
                        p.name() + "[" + i + "]: " + a[i] + " vs " + b[i]);
            }
        }
    }

    /**
     * Runs the script with the first of $QUILL_PYTHON, /usr/bin/python3 (Debian's, where apt puts torch) and python3
     * that has torch, and returns what it printed; skips the test when none has.
     */
    private static String runWithTorch(Path script, String args) throws IOException {
        List<String> candidates = new ArrayList<>();
        if (System.getenv("QUILL_PYTHON") != null) candidates.add(System.getenv("QUILL_PYTHON"));
        candidates.addAll(List.of("/usr/bin/python3", "python3"));
        for (String python : candidates) {
            Process p;
            try {
                p = new ProcessBuilder(python, script.toString(), args).redirectErrorStream(true).start();
            } catch (IOException noSuchProgram) {
                continue;
            }
            try {
                if (!p.waitFor(120, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    throw new AssertionError(python + " " + script + " did not finish in 120 s");
                }
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
                throw new IOException(e);
            }
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (output.contains("No module named 'torch'")) continue;
            assertEquals(0, p.exitValue(), python + " " + script + " failed: " + output);
            return output;
        }
        Assumptions.abort("skipped: no python3 with torch here (apt-get install python3-torch python3-numpy, or set"
                + " QUILL_PYTHON)");
        return null;
    }
}
