package quill.train;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/** Writes files so that neither a reader nor a crash ever sees half of one. */
public final class AtomicFiles {

    private AtomicFiles() {
    }

    /** What goes into a file: written to {@code temp}, which then becomes the file. */
    @FunctionalInterface
    public interface Content {
        void writeTo(Path temp) throws IOException;
    }

    /**
     * Writes {@code bytes} to a temporary file in {@code target}'s folder, then renames it over
     * {@code target}; an error says which file and why.
     */
    public static void write(Path target, byte[] bytes) throws IOException {
        try {
            replace(target, temp -> Files.write(temp, bytes, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE));
        } catch (IOException e) {
            throw new IOException("cannot write " + target + ": " + reason(e), e);
        }
    }

    /**
     * Lets {@code content} fill a temporary file in {@code target}'s folder, forces it to the disk, then
     * renames it over {@code target}. A rename within one file system is atomic, so {@code target} holds
     * either its old content or all of the new one, never a mix, even if the process dies half-way.
     */
    public static void replace(Path target, Content content) throws IOException {
        // A random name, made here rather than by Files.createTempFile, so that the file gets the
        // usual permissions (createTempFile makes it private to its owner).
        Path temp = target.toAbsolutePath().resolveSibling("." + target.getFileName() + "."
                + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
        try {
            content.writeTo(temp);
            try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                ch.force(true); // the bytes are on the disk before the rename makes them the file
            }
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    /** Why a file operation failed, in words (NIO's own messages are often just the path). */
    static String reason(IOException e) {
        if (e instanceof AccessDeniedException) return "permission denied";
        if (e instanceof NoSuchFileException) return "no such file or folder";
        if (e instanceof NotDirectoryException) return "not a folder";
        if (e instanceof FileAlreadyExistsException) return "a file of that name is in the way";
        if (e instanceof FileSystemException fs && fs.getReason() != null) return fs.getReason();
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }
}
