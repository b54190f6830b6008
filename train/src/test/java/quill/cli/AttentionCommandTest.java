package quill.cli;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import quill.optim.AdamW;
import quill.model.Gpt;
import quill.model.GptConfig;
import quill.tokenizer.CharTokenizer;
import quill.tokenizer.Tokenizer;
import quill.plot.AttentionPlot;
import quill.checkpoint.Checkpoint;
import quill.checkpoint.CheckpointWriter;
import quill.train.TrainConfig;
import quill.train.Trainer;
import quill.train.TrainingState;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AttentionCommandTest {

    @TempDir
    static Path run;

    /** An initialised (untrained) 2-layer, 2-head model with block size 8, saved as a run's last checkpoint. */
    @BeforeAll
    static void checkpoint() throws IOException {
        TrainConfig config = TrainConfig.preset(TrainConfig.DEFAULT_PRESET).with(Map.of(
                "out-dir", run.toString(), "n-layer", "2", "n-head", "2", "n-embd", "16", "block-size", "8"));
        Tokenizer tokenizer = CharTokenizer.fromCorpus("To be, or not to be:\nthat is the question.");
        GptConfig shape = Trainer.modelConfig(config, tokenizer.vocabSize());
        Gpt model = new Gpt(shape, 7);
        AdamW optimizer = new AdamW(model.parameters(), 0.9, 0.99, 1e-8, 0.1);
        new CheckpointWriter().write(Checkpoint.last(run), config, tokenizer,
                new TrainingState(0, 0, Double.POSITIVE_INFINITY, new quill.random.TorchGenerator(1).state(),
                        new int[]{2}, 3), model, optimizer);
    }

    @Test
    void writesAGridOfHeatmapsForThePrompt() throws IOException {
        CliRun r = CliRun.quill("attention", "--out-dir", run.toString(), "--start", "To be\\nor", "--layer", "1");
        assertEquals(0, r.exitCode(), r.err());
        Path png = run.resolve("attention-layer1.png");
        assertTrue(r.out().contains(png.toString()), r.out());
        BufferedImage image = ImageIO.read(png.toFile());
        AttentionPlot.Layout layout = AttentionPlot.Layout.of(2, 8); // "To be\nor" is 8 characters, 2 heads
        assertEquals(layout.width(), image.getWidth());
        assertEquals(layout.height(), image.getHeight());
    }

    @Test
    void aLongPromptKeepsItsLastBlockSizeCharactersAndOutChoosesTheFile(@TempDir Path elsewhere) throws IOException {
        Path png = elsewhere.resolve("pictures/long.png");
        CliRun r = CliRun.quill("attention", "--out-dir", run.toString(), "--start", "To be, or not to be: that is",
                "--out", png.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("the prompt has 28 tokens; keeping its last 8"), r.out());
        BufferedImage image = ImageIO.read(png.toFile());
        assertEquals(AttentionPlot.Layout.of(2, 8).width(), image.getWidth());
    }

    @Test
    void aCharacterOutsideTheVocabularyIsAClearError() {
        CliRun r = CliRun.quill("attention", "--out-dir", run.toString(), "--start", "To bé");
        assertEquals(1, r.exitCode());
        assertTrue(r.err().startsWith("error: --start: character 'é'"), r.err());
        assertFalse(r.err().contains("Exception"), r.err());
    }

    @Test
    void aLayerTheModelLacksIsAClearError() {
        CliRun r = CliRun.quill("attention", "--out-dir", run.toString(), "--start", "To", "--layer", "2");
        assertEquals(1, r.exitCode());
        assertTrue(r.err().contains("--layer 2 does not exist: the model in"), r.err());
        assertTrue(r.err().contains("has 2 layers (0 to 1)"), r.err());
    }

    @Test
    void anEmptyPromptIsAClearError() {
        CliRun r = CliRun.quill("attention", "--out-dir", run.toString(), "--start", "");
        assertEquals(1, r.exitCode());
        assertTrue(r.err().contains("--start is empty"), r.err());
    }

    @Test
    void aFolderWithoutACheckpointSaysHowToMakeOne(@TempDir Path empty) {
        CliRun r = CliRun.quill("attention", "--out-dir", empty.toString(), "--start", "To");
        assertEquals(1, r.exitCode());
        assertTrue(r.err().contains("no checkpoint in " + empty), r.err());
        assertTrue(r.err().contains("quill train --out-dir"), r.err());
    }

    @Test
    void aCorruptCheckpointIsAClearError(@TempDir Path broken) throws IOException {
        Files.writeString(Checkpoint.last(broken), "not a zip");
        CliRun r = CliRun.quill("attention", "--out-dir", broken.toString(), "--start", "To");
        assertEquals(1, r.exitCode());
        assertTrue(r.err().startsWith("error: "), r.err());
        assertTrue(r.err().contains(Checkpoint.LAST), r.err());
    }

    @Test
    void startIsRequired() {
        CliRun r = CliRun.quill("attention", "--out-dir", run.toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("--start"), r.err());
    }

    @Test
    void escapes() {
        assertEquals("a\nb\tc\\d\\q", AttentionCommand.unescape("a\\nb\\tc\\\\d\\q"));
    }
}
