package quill.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code quill report} as a user types it: on a run of {@code quill train}, on older and odd metrics, on bad input. */
class ReportCommandTest {

    @Test
    void drawsTheReportOfARunWithAnySwitch(@TempDir Path tmp) throws Exception {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, "To be, or not to be, that is the question.\n".repeat(200));
        Path run = tmp.resolve("run");
        CliRun train = CliRun.quill("train", "--dataset", "t", "--input", text.toString(), "--data-dir",
                tmp.resolve("data").toString(), "--n-layer", "2", "--n-head", "2", "--n-embd", "16",
                "--block-size", "16", "--batch-size", "4", "--max-iters", "6", "--eval-interval", "3",
                "--eval-iters", "1", "--warmup-iters", "2", "--lr-decay-iters", "6",
                "--health-interval", "2", "--mlp", "relu2", "--pos", "rope",
                "--tie-embeddings", "false", "--out-dir", run.toString());
        assertEquals(0, train.exitCode(), train.err());
        CliRun report = CliRun.quill("report", run.toString());
        assertEquals(0, report.exitCode(), report.err());
        assertEquals("wrote " + run.resolve("report.png"), report.out().strip());
        BufferedImage page = ImageIO.read(run.resolve("report.png").toFile());
        assertEquals(1520, page.getWidth());

        Path other = tmp.resolve("elsewhere.png");
        assertEquals(0, CliRun.quill("report", run.toString(), "--out", other.toString()).exitCode());
        assertTrue(Files.size(other) > 20_000);
    }

    /** A run from before grad_norm and health lines, and a LoRA run's adapter names: what is there is drawn. */
    @Test
    void drawsOlderRunsAndNamesItDoesNotKnow(@TempDir Path tmp) throws Exception {
        Path old = Files.createDirectories(tmp.resolve("old"));
        StringBuilder lines = new StringBuilder("{\"iter\":0,\"train_loss\":4.2,\"val_loss\":4.2}\n");
        for (int i = 0; i < 20; i++) {
            lines.append("{\"iter\":").append(i).append(",\"loss\":").append(4 - i * 0.1)
                    .append(",\"lr\":0.001,\"ms\":50,\"tokens_per_s\":15000}\n");
        }
        lines.append("{\"iter\":20,\"train_loss\":2.2,\"val_loss\":2.3}\n{\"iter\":20,\"loss\":");   // torn last line
        Files.writeString(old.resolve("metrics.jsonl"), lines);
        CliRun report = CliRun.quill("report", old.toString());
        assertEquals(0, report.exitCode(), report.err());
        assertTrue(Files.size(old.resolve("report.png")) > 20_000);

        Path lora = Files.createDirectories(tmp.resolve("lora"));
        Files.writeString(lora.resolve("metrics.jsonl"), """
                {"iter":0,"loss":2.0,"lr":0.001,"ms":50,"tokens_per_s":15000,"grad_norm":0.5,"clipped":false}
                {"iter":0,"health":{"params":{"transformer.h.0.attn.c_attn.lora_A":{"weight_rms":0.01,"grad_rms":0.001,\
                "log10_update_ratio":-2.5},"transformer.h.0.attn.c_attn":{"weight_rms":0.02,"grad_rms":0.0}},\
                "activations":{"transformer.h.0.attn":{"kind":"attention","mean":0.0,"std":0.1},"something.new":"?"},\
                "attention_entropy":{"transformer.h.0.attn":[1.0,2.0],"x":"y"}}}
                {"iter":1,"loss":1.9,"lr":0.001,"ms":50,"tokens_per_s":15000,"grad_norm":1.5,"clipped":true}
                {"iter":2,"health":"not an object"}
                """);
        CliRun loraReport = CliRun.quill("report", lora.toString());
        assertEquals(0, loraReport.exitCode(), loraReport.err());
    }

    @Test
    void badInputIsOneErrorLine(@TempDir Path tmp) throws Exception {
        CliRun missing = CliRun.quill("report", tmp.resolve("nope").toString());
        assertEquals(1, missing.exitCode());
        assertEquals("error: no such folder: " + tmp.resolve("nope"), missing.err().strip());
        CliRun notARun = CliRun.quill("report", tmp.toString());
        assertEquals(1, notARun.exitCode());
        assertEquals("error: " + tmp + " is not a training run: it has no metrics.jsonl", notARun.err().strip());
        Files.writeString(tmp.resolve("metrics.jsonl"), "not json\n{\"x\":1}\n");
        CliRun empty = CliRun.quill("report", tmp.toString());
        assertEquals(1, empty.exitCode());
        assertEquals("error: " + tmp.resolve("metrics.jsonl") + " holds no steps or evals: nothing to draw",
                empty.err().strip());
        Files.write(tmp.resolve("metrics.jsonl"), new byte[]{(byte) 0xff, (byte) 0xfe, 0, 1});
        CliRun binary = CliRun.quill("report", tmp.toString());
        assertEquals(1, binary.exitCode());
        assertTrue(binary.err().strip().startsWith("error: ") && binary.err().strip().lines().count() == 1,
                binary.err());
        Files.createDirectories(tmp.resolve("dir.png"));
        Files.writeString(tmp.resolve("metrics.jsonl"), "{\"iter\":0,\"loss\":2.0,\"lr\":0.001}\n");
        CliRun outIsAFolder = CliRun.quill("report", tmp.toString(), "--out", tmp.resolve("dir.png").toString());
        assertEquals(1, outIsAFolder.exitCode());
        assertTrue(outIsAFolder.err().startsWith("error: ") && outIsAFolder.err().strip().lines().count() == 1,
                outIsAFolder.err());
    }
}
