package quill.cli;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import quill.tokenizer.BpeTokenizer;
import quill.plot.AttentionPlot;
import quill.checkpoint.Checkpoint;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A BPE dataset prepares, trains, samples and draws its attention, as the README shows. */
class BpeRunTest {

    @TempDir
    static Path tmp;

    static CliRun trained;

    @BeforeAll
    static void prepareAndTrain() throws IOException {
        Path input = Files.writeString(tmp.resolve("story.txt"), PrepareBpeTest.STORY.repeat(10));
        String data = tmp.resolve("data").toString();
        CliRun prepared = CliRun.quill("prepare", "story", "--data-dir", data, "--input", input.toString(),
                "--tokenizer", "bpe", "--vocab-size", "320");
        assertEquals(0, prepared.exitCode(), prepared.err());
        trained = CliRun.quill("train", "--dataset", "story", "--data-dir", data,
                "--out-dir", tmp.resolve("out").toString(),
                "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4",
                "--max-iters", "6", "--eval-interval", "3", "--eval-iters", "2", "--warmup-iters", "2",
                "--lr-decay-iters", "10");
    }

    @Test
    void trainsOnTheBpeIds() throws IOException {
        assertEquals(0, trained.exitCode(), trained.err());
        assertTrue(trained.out().contains("eval 6: train loss"), trained.out());
        Checkpoint checkpoint = Checkpoint.load(Checkpoint.last(tmp.resolve("out")));
        assertEquals(320, checkpoint.modelConfig().vocabSize());
        assertInstanceOf(BpeTokenizer.class, checkpoint.tokenizer());
    }

    @Test
    void samplesStartWithThePrompt() {
        CliRun r = CliRun.quill("sample", "--out-dir", tmp.resolve("out").toString(), "--start", "Once upon",
                "--num-samples", "2", "--max-new-tokens", "20");
        assertEquals(0, r.exitCode(), r.err());
        String[] samples = r.out().split(SampleCommand.SEPARATOR + "\n", -1);
        assertEquals(3, samples.length, r.out());
        assertTrue(samples[0].startsWith("Once upon"), samples[0]);
        assertTrue(r.err().contains("40 tokens in"), r.err());
    }

    @Test
    void attentionIsLabelledWithTokens() throws IOException {
        Path png = tmp.resolve("att.png");
        CliRun r = CliRun.quill("attention", "--out-dir", tmp.resolve("out").toString(), "--start", "Once upon a time",
                "--layer", "0", "--out", png.toString());
        assertEquals(0, r.exitCode(), r.err());
        BufferedImage image = ImageIO.read(png.toFile());
        Checkpoint checkpoint = Checkpoint.load(Checkpoint.last(tmp.resolve("out")));
        int tokens = checkpoint.tokenizer().encode("Once upon a time").length;
        assertTrue(tokens < 16, "fewer tokens than characters: " + tokens);
        // the longest token's label sets the room for labels, so the picture is wider than a char model's
        assertTrue(image.getWidth() > AttentionPlot.Layout.of(2, tokens).width(), "room for multi-character labels");
    }
}
