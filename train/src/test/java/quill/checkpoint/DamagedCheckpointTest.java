package quill.checkpoint;

import quill.train.TinyRun;
import quill.train.TrainConfig;
import quill.train.Trainer;
import quill.train.TrainingState;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import quill.optim.AdamW;
import quill.model.Gpt;
import quill.tokenizer.CharTokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Enumeration;
import java.util.function.UnaryOperator;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A checkpoint damaged or crafted inside (its CRCs intact) fails to load with a message naming the zip and entry. */
class DamagedCheckpointTest {

    static final String WEIGHT = "model/transformer.wte.weight.npy";

    @TempDir
    Path tmp;

    private Path good() throws IOException {
        CharTokenizer tokenizer = CharTokenizer.fromCorpus(TinyRun.TEXT);
        TrainConfig config = TinyRun.config(tmp, 10);
        Gpt model = new Gpt(Trainer.modelConfig(config, tokenizer.vocabSize()), 1);
        AdamW optimizer = new AdamW(model.parameters(), 0.9, 0.99, 1e-8, 0.1);
        Path file = tmp.resolve("good.zip");
        new CheckpointWriter().write(file, config, tokenizer, new TrainingState(5, 5, 2.5,
                new quill.random.TorchGenerator(1).state(), new int[]{2}, 3), model, optimizer);
        return file;
    }

    @Test
    void aTruncatedWeightIsNamedByZipAndEntry() throws IOException {
        Path bad = rewrite(good(), WEIGHT, b -> Arrays.copyOf(b, b.length - 100));
        Checkpoint ckpt = Checkpoint.load(bad); // its CRCs are right: only reading the array finds it short
        IOException e = assertThrows(IOException.class, ckpt::newModel);
        assertTrue(e.getMessage().contains(bad.toString()), e.getMessage());
        assertTrue(e.getMessage().contains(WEIGHT + " is truncated"), e.getMessage());
        assertFalse(e.getMessage().contains("quill-ckpt"), "no temporary folder: " + e.getMessage());
    }

    @Test
    void aBigEndianWeightIsAClearError() throws IOException {
        Path bad = rewrite(good(), WEIGHT, b -> {
            String s = new String(b, StandardCharsets.ISO_8859_1).replaceFirst("'<f4'", "'>f4'");
            return s.getBytes(StandardCharsets.ISO_8859_1);
        });
        IOException e = assertThrows(IOException.class, () -> Checkpoint.load(bad).newModel());
        assertTrue(e.getMessage().contains(WEIGHT + " is big-endian"), e.getMessage());
    }

    @Test
    void anImpossibleModelShapeIsAClearError() throws IOException {
        Path bad = rewrite(good(), Checkpoint.META, b -> new String(b, StandardCharsets.UTF_8)
                .replaceFirst("\"nHead\": 2", "\"nHead\": 0").getBytes(StandardCharsets.UTF_8));
        IOException e = assertThrows(IOException.class, () -> Checkpoint.load(bad));
        assertTrue(e.getMessage().startsWith("checkpoint " + bad
                + " is incomplete or corrupt: checkpoint.json's model:"), e.getMessage());
        assertFalse(e.getMessage().contains("constructor"), e.getMessage());
    }

    /** A copy of {@code zip} with entry {@code name}'s bytes changed (and a CRC that matches them). */
    static Path rewrite(Path zip, String name, UnaryOperator<byte[]> change) throws IOException {
        Path out = zip.resolveSibling("bad-" + zip.getFileName());
        try (ZipFile in = new ZipFile(zip.toFile()); OutputStream o = Files.newOutputStream(out);
             ZipOutputStream z = new ZipOutputStream(o)) {
            Enumeration<? extends ZipEntry> entries = in.entries();
            boolean found = false;
            while (entries.hasMoreElements()) {
                ZipEntry e = entries.nextElement();
                byte[] bytes;
                try (InputStream s = in.getInputStream(e)) {
                    bytes = s.readAllBytes();
                }
                if (e.getName().equals(name)) {
                    bytes = change.apply(bytes);
                    found = true;
                }
                z.putNextEntry(new ZipEntry(e.getName()));
                z.write(bytes);
                z.closeEntry();
            }
            if (!found) throw new IllegalArgumentException("no entry " + name);
        }
        return out;
    }
}
