package quill.train;

import quill.data.PreparedData;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.factory.Nd4j;
import quill.autograd.Ops;
import quill.autograd.Parameter;
import quill.autograd.TapeWatch;
import quill.autograd.Tensor;

import java.io.IOException;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NanDetectiveTest {
    @TempDir
    Path tmp;

    @AfterEach
    void stopWatching() {
        TapeWatch.stop();
    }

    /** sqrt is finite at 0 but its derivative is not: the forward passes, the backward of pow is the culprit. */
    @Test
    void findsTheFirstOpWhoseBackwardIsNotFinite() {
        NanDetective detective = new NanDetective();
        Tensor x = Tensor.variable(Nd4j.createFromArray(0.0, 1.0, 4.0));
        TapeWatch.start(detective, null);
        Tensor loss = Ops.sum(Ops.scale(Ops.pow(x, 0.5), 2.0));
        loss.backward();
        TapeWatch.stop();
        assertEquals(Double.POSITIVE_INFINITY, x.grad().getDouble(0));
        assertEquals("An infinite value first appeared in the backward of pow", detectiveSays(detective));
    }

    @Test
    void findsTheFirstOpWhoseResultIsNotFinite() {
        NanDetective detective = new NanDetective();
        Tensor x = Tensor.variable(Nd4j.createFromArray(-1.0, 1.0));
        TapeWatch.start(detective, null);
        Ops.sum(Ops.exp(Ops.pow(Ops.log(x), 2))).backward();   // log(-1) is NaN; pow and exp only pass it on
        TapeWatch.stop();
        assertEquals("NaN first appeared in the forward of log", detectiveSays(detective));
    }

    private static String detectiveSays(NanDetective d) {
        try {
            var f = NanDetective.class.getDeclaredField("first");
            f.setAccessible(true);
            return String.valueOf(f.get(d));
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }

    /** Huge weights in c_fc overflow its output: the message names that layer and op, the norms, and a remedy. */
    @Test
    void aDivergingRunNamesItsFirstNonFiniteOp() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Path out = tmp.resolve("out");
        Trainer t = TinyRun.trainer(TinyRun.config(out, 20), data, new StringWriter());
        t.afterStep(iter -> {
            if (iter == 7) {
                Parameter w = t.model.parameters().get("transformer.h.0.mlp.c_fc.weight");
                for (int j = 0; j < 16; j++) w.value().putScalar(new long[]{j, 0}, 3e38f);
            }
        });
        Trainer.DivergedException e = assertThrows(Trainer.DivergedException.class, () -> t.run(null));
        String m = e.getMessage();
        assertTrue(m.contains("at iteration 8"), m);
        assertTrue(m.contains("An infinite value first appeared in the forward of transformer.h.0.mlp.c_fc linear"
                + " at iteration 8"), m);
        assertTrue(m.contains("Gradient norm over the last 6 steps:"), m);
        assertTrue(m.contains("Try --learning-rate 0.0033 (a third of 0.010)"), m);
        assertTrue(m.contains("The last good checkpoint is kept"), m);
    }

    /** A learning rate of 1e30: the first update blows the weights up and the next step overflows somewhere. */
    @Test
    void aHugeLearningRateIsCaughtWhereItOverflows() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Path out = tmp.resolve("out");
        TrainConfig c = TinyRun.config(out, 20).with(Map.of("learning-rate", "1e30", "min-lr", "1e29"));
        Trainer t = TinyRun.trainer(c, data, new StringWriter());
        Trainer.DivergedException e = assertThrows(Trainer.DivergedException.class, () -> t.run(null));
        String m = e.getMessage();
        assertTrue(m.matches("(?s).* first appeared in the (forward|backward) of \\S+ \\w+ at iteration \\d+\\..*"), m);
    }

    @Test
    void aPoisonedWeightIsNamed() throws IOException {
        PreparedData data = TinyRun.prepare(tmp.resolve("data"));
        Trainer t = TinyRun.trainer(TinyRun.config(tmp.resolve("out"), 20), data, new StringWriter());
        t.afterStep(iter -> {
            if (iter == 3) {
                t.model.parameters().get("transformer.h.0.attn.c_proj.weight").value().putScalar(0, Float.NaN);
            }
        });
        Trainer.DivergedException e = assertThrows(Trainer.DivergedException.class, () -> t.run(null));
        assertTrue(e.getMessage().contains("NaN first appeared in the weights of transformer.h.0.attn.c_proj.weight"),
                e.getMessage());
    }
}
