package quill.checkpoint;

import quill.train.TinyRun;
import quill.train.TrainConfig;
import quill.train.Trainer;
import quill.train.TrainingState;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import quill.autograd.Parameter;
import quill.optim.AdamW;
import quill.model.FastGpt;
import quill.model.Gpt;
import quill.model.KvCache;
import quill.tokenizer.CharTokenizer;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CheckpointTest {

    @TempDir
    Path tmp;

    private final CharTokenizer tokenizer = CharTokenizer.fromCorpus(TinyRun.TEXT);

    @Test
    void aCrashHalfWayThroughAWriteLeavesThePreviousCheckpointLoadable() throws IOException {
        TrainConfig config = TinyRun.config(tmp, 10);
        Gpt model = new Gpt(Trainer.modelConfig(config, tokenizer.vocabSize()), 1);
        AdamW optimizer = new AdamW(model.parameters(), 0.9, 0.99, 1e-8, 0.1);
        Path file = tmp.resolve(Checkpoint.LAST);
        new CheckpointWriter().write(file, config, tokenizer, new TrainingState(5, 5, 2.5,
                new quill.random.TorchGenerator(1).state(), new int[]{2}, 3), model, optimizer);
        float[] saved = firstWeights(model);
        long size = Files.size(file);

        // the next checkpoint dies after half its bytes
        for (Parameter p : model.parameters().values()) p.value().addi(1);
        CheckpointWriter dying = new CheckpointWriter(out -> new FailAfter(out, size / 2));
        IOException e = assertThrows(IOException.class, () -> dying.write(file, config, tokenizer,
                new TrainingState(10, 10, 2.0, new quill.random.TorchGenerator(4).state(), new int[]{5}, 6),
                model, optimizer));
        assertTrue(e.getMessage().startsWith("cannot write checkpoint " + file
                + " (the previous one, if any, is intact)"));

        Checkpoint ckpt = Checkpoint.load(file);
        TrainingState state = ckpt.state();
        assertEquals(List.of(5, 5, 2.5, 3L),
                List.of(state.iter(), state.lastEvalIter(), state.bestValLoss(), state.dropoutState()));
        assertArrayEquals(new quill.random.TorchGenerator(1).state(), state.rngState());
        assertArrayEquals(new int[]{2}, state.nextBatch());
        assertArrayEquals(saved, firstWeights(ckpt.newModel()));
        try (var files = Files.list(tmp)) {
            assertEquals(1, files.count(), "no temporary files are left behind");
        }
    }

    /**
     * A plain checkpoint of nanoGPT's kind of model reads into {@link FastGpt} without ND4J, whose logits are the
     * model's through a {@link KvCache}, bit for bit; another architecture or a damaged weight entry reads into
     * nothing (newModel is then the way, and names what is wrong).
     */
    @Test
    void aPlainCheckpointReadsIntoFastGptWithTheModelsLogits() throws IOException {
        TrainConfig config = TinyRun.config(tmp, 10);
        Gpt model = new Gpt(Trainer.modelConfig(config, tokenizer.vocabSize()), 1);
        for (Parameter p : model.parameters().values()) p.value().addi(0.01);   // a bias not at its init
        Path file = tmp.resolve(Checkpoint.LAST);
        TrainingState state = new TrainingState(5, 5, 2.5, new quill.random.TorchGenerator(1).state(), new int[]{2}, 3);
        new CheckpointWriter().write(file, config, tokenizer, state, model,
                new AdamW(model.parameters(), 0.9, 0.99, 1e-8, 0.1));
        Checkpoint ckpt = Checkpoint.load(file);
        FastGpt fast = ckpt.fastModel();
        assertNotNull(fast);
        KvCache reference = new KvCache(ckpt.newModel());
        FastGpt.Cache cache = fast.cache(1, 1);
        int[] history = new int[3 * model.config().blockSize()];
        for (int i = 0; i < history.length; i++) history[i] = (i * 7 + i * i / 3) % tokenizer.vocabSize();
        for (int n = 1; n <= history.length; n++) {
            assertArrayEquals(reference.nextTokenLogits(history, n), cache.nextTokenLogits(history, n), "n=" + n);
        }

        Path rope = tmp.resolve("rope.zip");
        TrainConfig ropeConfig = config.with(java.util.Map.of("pos", "rope"));
        new CheckpointWriter().write(rope, ropeConfig, tokenizer, state,
                new Gpt(Trainer.modelConfig(ropeConfig, tokenizer.vocabSize()), 1),
                new AdamW(model.parameters(), 0.9, 0.99, 1e-8, 0.1));
        assertNull(Checkpoint.load(rope).fastModel());
    }

    /**
     * Format 1 (before batches were drawn as nanoGPT's) had two SplitMix states:
     * its weights load, it does not resume.
     */
    @Test
    void aFormatOneCheckpointLoadsButIsNotResumable() throws IOException {
        TrainConfig config = TinyRun.config(tmp, 10);
        Gpt model = new Gpt(Trainer.modelConfig(config, tokenizer.vocabSize()), 1);
        Path current = tmp.resolve("current.zip");
        new CheckpointWriter().write(current, config, tokenizer, new TrainingState(5, 5, 2.5,
                new quill.random.TorchGenerator(1).state(), new int[]{2}, 3), model,
                new AdamW(model.parameters(), 0.9, 0.99, 1e-8, 0.1));
        Path old = tmp.resolve("old.zip");
        try (java.util.zip.ZipFile in = new java.util.zip.ZipFile(current.toFile());
             java.util.zip.ZipOutputStream out = new java.util.zip.ZipOutputStream(Files.newOutputStream(old))) {
            for (var entry : java.util.Collections.list(in.entries())) {
                out.putNextEntry(new java.util.zip.ZipEntry(entry.getName()));
                if (entry.getName().equals(Checkpoint.META)) {
                    var meta = com.google.gson.JsonParser.parseString(
                            new String(in.getInputStream(entry).readAllBytes(),
                            java.nio.charset.StandardCharsets.UTF_8)).getAsJsonObject();
                    meta.addProperty("format", 1);
                    meta.add("state", com.google.gson.JsonParser.parseString(
                            "{\"iter\":5,\"lastEvalIter\":5,\"bestValLoss\":2.5,"
                            + "\"batchRngState\":1,\"evalRngState\":2,\"dropoutState\":3}"));
                    out.write(meta.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                } else {
                    in.getInputStream(entry).transferTo(out);
                }
                out.closeEntry();
            }
        }
        Checkpoint ckpt = Checkpoint.load(old);
        assertFalse(ckpt.state().resumable());
        assertArrayEquals(firstWeights(model), firstWeights(ckpt.newModel()));
    }

    @Test
    void missingPartialAndCorruptFilesAreNamed() throws IOException {
        TrainConfig config = TinyRun.config(tmp, 10);
        Gpt model = new Gpt(Trainer.modelConfig(config, tokenizer.vocabSize()), 1);
        AdamW optimizer = new AdamW(model.parameters(), 0.9, 0.99, 1e-8, 0.1);
        Path good = tmp.resolve("good.zip");
        new CheckpointWriter().write(good, config, tokenizer, new TrainingState(5, 5, 2.5,
                new quill.random.TorchGenerator(1).state(), new int[]{2}, 3), model, optimizer);
        byte[] bytes = Files.readAllBytes(good);

        Path missing = tmp.resolve("missing.zip");
        assertTrue(assertThrows(IOException.class, () -> Checkpoint.load(missing)).getMessage()
                .startsWith("no checkpoint at " + missing));

        Path partial = Files.write(tmp.resolve("partial.zip"), Arrays.copyOf(bytes, bytes.length / 2));
        assertTrue(assertThrows(IOException.class, () -> Checkpoint.load(partial)).getMessage()
                .startsWith("checkpoint " + partial + " is incomplete or corrupt"));

        Path garbage = Files.writeString(tmp.resolve("garbage.zip"), "not a checkpoint");
        assertTrue(assertThrows(IOException.class, () -> Checkpoint.load(garbage)).getMessage()
                .startsWith("checkpoint " + garbage + " is incomplete or corrupt"));

        // flip bytes inside the stored arrays: the zip's CRC catches it
        byte[] flipped = bytes.clone();
        for (int i = bytes.length / 2; i < bytes.length / 2 + 64; i++) flipped[i] ^= 0x5a;
        Path corrupt = Files.write(tmp.resolve("corrupt.zip"), flipped);
        IOException e = assertThrows(IOException.class, () -> Checkpoint.load(corrupt));
        assertTrue(e.getMessage().contains(corrupt.toString()), e.getMessage());
        assertFalse(e.getMessage().isBlank());
    }

    private static float[] firstWeights(Gpt model) {
        return model.parameters().values().iterator().next().value().dup().data().asFloat();
    }

    /** An output stream whose disk "fails" after {@code limit} bytes. */
    private static final class FailAfter extends FilterOutputStream {
        private long left;

        FailAfter(OutputStream out, long limit) {
            super(out);
            this.left = limit;
        }

        @Override
        public void write(int b) throws IOException {
            if (left-- <= 0) throw new IOException("simulated crash");
            out.write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            for (int i = 0; i < len; i++) write(b[off + i]);
        }
    }
}
