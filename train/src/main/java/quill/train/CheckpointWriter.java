package quill.train;

import com.google.gson.JsonObject;
import quill.model.AdamW;
import quill.model.Gpt;
import quill.tokenizer.Tokenizer;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import java.util.zip.Deflater;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Writes {@link Checkpoint} files atomically: the zip is written to a hidden sibling
 * ({@code .ckpt-last.zip.partial}), forced to the disk, and only then renamed over the target.
 * A rename within a folder is atomic, so whatever happens mid-write (a crash, Ctrl-C twice, a full
 * disk) the target holds the previous checkpoint or the new one, never half of one.
 */
public final class CheckpointWriter {
    private final UnaryOperator<OutputStream> wrap;

    public CheckpointWriter() {
        this(UnaryOperator.identity());
    }

    /** For tests: {@code wrap} sits between the zip and the file, e.g. to fail half-way. */
    CheckpointWriter(UnaryOperator<OutputStream> wrap) {
        this.wrap = wrap;
    }

    public void write(Path target, TrainConfig config, Tokenizer tokenizer, TrainingState state, Gpt model, AdamW optimizer)
            throws IOException {
        Path folder = target.toAbsolutePath().getParent();
        Path partial = folder.resolve("." + target.getFileName() + ".partial");
        Path staging = Files.createTempDirectory(folder, ".ckpt-staging");
        try {
            model.save(staging.resolve("model"));
            optimizer.save(staging.resolve("optimizer"));
            JsonObject meta = new JsonObject();
            meta.addProperty("format", Checkpoint.FORMAT);
            meta.add("model", Checkpoint.GSON.toJsonTree(model.config()));
            meta.add("state", Checkpoint.GSON.toJsonTree(state));
            try (ZipOutputStream zip = new ZipOutputStream(wrap.apply(new BufferedOutputStream(
                    Files.newOutputStream(partial), 1 << 16)))) {
                zip.setLevel(Deflater.NO_COMPRESSION); // float weights barely compress; speed matters more
                put(zip, Checkpoint.META, Checkpoint.GSON.toJson(meta));
                put(zip, Checkpoint.CONFIG, config.toProperties());
                put(zip, Checkpoint.TOKENIZER, Checkpoint.GSON.toJson(tokenizer.toJson()));
                putTree(zip, staging.resolve("model"), Checkpoint.MODEL);
                putTree(zip, staging.resolve("optimizer"), Checkpoint.OPTIMIZER);
            }
            try (FileChannel ch = FileChannel.open(partial, StandardOpenOption.WRITE)) {
                ch.force(true); // the bytes are on the disk before the rename makes them the checkpoint
            }
            Files.move(partial, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new IOException("cannot write checkpoint " + target + " (the previous one, if any, is intact): " + e.getMessage(), e);
        } finally {
            Files.deleteIfExists(partial);
            Checkpoint.deleteTree(staging);
        }
    }

    /** Copies {@code from} over {@code to}, atomically as above (for ckpt-best.zip). */
    public static void copy(Path from, Path to) throws IOException {
        Path partial = to.toAbsolutePath().getParent().resolve("." + to.getFileName() + ".partial");
        try {
            Files.copy(from, partial, StandardCopyOption.REPLACE_EXISTING);
            try (FileChannel ch = FileChannel.open(partial, StandardOpenOption.WRITE)) {
                ch.force(true);
            }
            Files.move(partial, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(partial);
        }
    }

    private static void put(ZipOutputStream zip, String name, String text) throws IOException {
        zip.putNextEntry(new ZipEntry(name));
        zip.write(text.getBytes(StandardCharsets.UTF_8));
        zip.closeEntry();
    }

    private static void putTree(ZipOutputStream zip, Path dir, String prefix) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : files.filter(Files::isRegularFile).sorted().toList()) {
                zip.putNextEntry(new ZipEntry(prefix + dir.relativize(f).toString().replace('\\', '/')));
                Files.copy(f, zip);
                zip.closeEntry();
            }
        }
    }
}
