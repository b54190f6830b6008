package quill.checkpoint;

import quill.train.FineTune;
import quill.train.TrainConfig;
import quill.train.TrainingState;

import com.google.gson.JsonObject;
import quill.optim.Optimizer;
import quill.model.Gpt;
import quill.model.GptHooks;
import quill.tokenizer.Tokenizer;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import java.util.zip.Deflater;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Writes {@link Checkpoint} files atomically ({@link AtomicFiles#replace}): the zip is written to a hidden
 * sibling, forced to the disk, and only then renamed over the target. Whatever happens mid-write (a
 * crash, Ctrl-C twice, a full disk) the target holds the previous checkpoint or the new one, never half.
 */
public final class CheckpointWriter {
    private static final String STAGING = ".ckpt-staging-";
    private final UnaryOperator<OutputStream> wrap;

    public CheckpointWriter() {
        this(UnaryOperator.identity());
    }

    /** For tests: {@code wrap} sits between the zip and the file, e.g. to fail half-way. */
    public CheckpointWriter(UnaryOperator<OutputStream> wrap) {
        this.wrap = wrap;
    }

    public void write(Path target, TrainConfig config, Tokenizer tokenizer, TrainingState state, Gpt model,
            Optimizer optimizer)
            throws IOException {
        write(target, config, tokenizer, state, model, optimizer, null);
    }

    /** As above, recording {@code sourceSha256}, the sha256 of the text the run trains on (null: unknown). */
    public void write(Path target, TrainConfig config, Tokenizer tokenizer, TrainingState state, Gpt model,
                      Optimizer optimizer, String sourceSha256) throws IOException {
        write(target, config, tokenizer, state, model, optimizer, sourceSha256, null);
    }

    /**
     * As above, for a run started from {@code base} (null: from scratch), which {@code checkpoint.json} records; a
     * model with LoRA adapters saves only what it trains ({@link GptHooks#saveTrainable}).
     */
    public void write(Path target, TrainConfig config, Tokenizer tokenizer, TrainingState state, Gpt model,
                      Optimizer optimizer, String sourceSha256, FineTune base) throws IOException {
        Path staging = Files.createTempDirectory(target.toAbsolutePath().getParent(),
                STAGING + ProcessHandle.current().pid() + "-");
        try {
            if (model.lora() != null) GptHooks.saveTrainable(model, staging.resolve("model"));
            else model.save(staging.resolve("model"));
            optimizer.save(staging.resolve("optimizer"));
            JsonObject meta = new JsonObject();
            meta.addProperty("format", Checkpoint.FORMAT);
            meta.add("model", Checkpoint.GSON.toJsonTree(model.config()));
            String customNorm = GptHooks.customNormName(model);
            if (customNorm != null) meta.addProperty(Checkpoint.CUSTOM_NORM, customNorm);
            meta.add("state", Checkpoint.GSON.toJsonTree(state));
            if (sourceSha256 != null) meta.addProperty(Checkpoint.SOURCE_SHA256, sourceSha256);
            if (base != null) meta.add(FineTune.KEY, base.toJson());
            AtomicFiles.replace(target, temp -> {
                try (ZipOutputStream zip = new ZipOutputStream(wrap.apply(new BufferedOutputStream(
                        Files.newOutputStream(temp), 1 << 16)))) {
                    zip.setLevel(Deflater.NO_COMPRESSION); // float weights barely compress; speed matters more
                    put(zip, Checkpoint.META, Checkpoint.GSON.toJson(meta));
                    put(zip, Checkpoint.CONFIG, config.toProperties());
                    put(zip, Checkpoint.TOKENIZER, Checkpoint.GSON.toJson(tokenizer.toJson()));
                    putTree(zip, staging.resolve("model"), Checkpoint.MODEL);
                    putTree(zip, staging.resolve("optimizer"), Checkpoint.OPTIMIZER);
                }
            });
        } catch (IOException e) {
            throw new IOException("cannot write checkpoint " + target + " (the previous one, if any, is intact): "
                    + e.getMessage(), e);
        } finally {
            Checkpoint.deleteTree(staging);
        }
    }

    /**
     * Removes what killed writers left in {@code dir}: half-written checkpoint files and staging folders of
     * processes that no longer run (and of earlier Quills). Returns the count and bytes removed.
     */
    public static long[] removeLeftovers(Path dir) throws IOException {
        long[] removed = AtomicFiles.removeLeftovers(dir, List.of(Checkpoint.LAST, Checkpoint.BEST));
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                String n = f.getFileName().toString();
                boolean old = n.matches("\\.ckpt-staging[0-9]+"); // an earlier Quill's name, without a process id
                if ((old || n.startsWith(STAGING) && AtomicFiles.leftBehind(n.substring(STAGING.length())))
                        && Files.isDirectory(f, LinkOption.NOFOLLOW_LINKS)) {
                    try (Stream<Path> inside = Files.walk(f)) {
                        for (Path p : inside.filter(Files::isRegularFile).toList()) {
                            removed[0]++;
                            removed[1] += Files.size(p);
                        }
                    }
                    Checkpoint.deleteTree(f);
                }
            }
        }
        return removed;
    }

    /** Copies {@code from} over {@code to}, atomically as above (ckpt-best.zip and ckpt-last.zip). */
    public void copy(Path from, Path to) throws IOException {
        AtomicFiles.replace(to, temp -> {
            try (OutputStream out = wrap.apply(Files.newOutputStream(temp))) {
                Files.copy(from, out);
            }
        });
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
