package quill.checkpoint;

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
import java.util.Collection;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static java.nio.file.LinkOption.NOFOLLOW_LINKS;

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
        commit(stage(target, content), target);
    }

    /**
     * The first half of {@link #replace}: the new content, in a temporary file beside {@code target} and on the
     * disk; {@link #commit} makes it the file. A failure removes the temporary file.
     */
    public static Path stage(Path target, Content content) throws IOException {
        requireRegularOrAbsent(target);
        // A name of our own rather than Files.createTempFile's, so that the file gets the usual permissions
        // (createTempFile makes it private to its owner), and so that it names this process: what a killed
        // process left is told from what a running one writes (removeLeftovers).
        long random = ThreadLocalRandom.current().nextLong() >>> 1;
        String tag = ProcessHandle.current().pid() + "-" + Long.toHexString(random);
        Path temp = target.toAbsolutePath().resolveSibling("." + target.getFileName() + "." + tag + ".tmp");
        try {
            content.writeTo(temp);
            try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                ch.force(true); // the bytes are on the disk before the rename makes them the file
            }
            return temp;
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(temp);
            throw e;
        }
    }

    /**
     * Fails unless {@code target} is a regular file or nothing: a rename over a symbolic link, a device such as
     * {@code /dev/null}, a pipe or a folder would destroy it. The message is the path, then why
     * ({@link FileSystemException#getReason()}).
     */
    public static void requireRegularOrAbsent(Path target) throws FileSystemException {
        String what;
        if (Files.isSymbolicLink(target)) {
            what = "it is a symbolic link; Quill writes only regular files (write to the file it points to, or choose"
                    + " another name)";
        } else if (Files.isDirectory(target, NOFOLLOW_LINKS)) {
            what = "it is a folder; give a file name";
        } else if (Files.exists(target, NOFOLLOW_LINKS) && !Files.isRegularFile(target, NOFOLLOW_LINKS)) {
            what = "it is not a regular file (a device, a pipe or a socket); Quill writes only regular files: choose"
                    + " another name";
        } else {
            return;
        }
        throw new FileSystemException(target.toString(), null, what);
    }

    /** Renames a file that {@link #stage} wrote over {@code target}, atomically. */
    public static void commit(Path temp, Path target) throws IOException {
        try {
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    /**
     * Removes the temporary files that {@link #replace} left in {@code dir} for the given file names when its process
     * died before the rename: those naming a process that no longer runs, and those of earlier Quills, which named
     * none. Nothing else is touched. Returns the count and bytes removed.
     */
    public static long[] removeLeftovers(Path dir, Collection<String> names) throws IOException {
        long[] removed = new long[2];
        if (!Files.isDirectory(dir)) return removed;
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                String n = f.getFileName().toString();
                for (String name : names) {
                    String prefix = "." + name + ".";
                    if (n.startsWith(prefix) && n.endsWith(".tmp") && Files.isRegularFile(f, NOFOLLOW_LINKS)
                            && leftBehind(n.substring(prefix.length(), n.length() - 4))) {
                        removed[1] += Files.size(f);
                        removed[0] += Files.deleteIfExists(f) ? 1 : 0;
                    }
                }
            }
        }
        return removed;
    }

    /** Whether a temporary file's tag ({@code <pid>-<hex>}; {@code <hex>} before tags named a process) is a dead's. */
    static boolean leftBehind(String tag) {
        Matcher m = TAG.matcher(tag);
        if (!m.matches()) return false;
        if (m.group(1) == null) return true; // an earlier Quill's: the run folder's lock or prepare's start means done
        long pid = Long.parseLong(m.group(1));
        return ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true);
    }

    private static final Pattern TAG = Pattern.compile("(?:([0-9]{1,10})-)?[0-9a-f]{1,20}");

    /** Why a file operation failed, in words (NIO's own messages are often just the path). */
    public static String reason(IOException e) {
        if (e instanceof AccessDeniedException) return "permission denied";
        if (e instanceof NoSuchFileException) return "no such file or folder";
        if (e instanceof NotDirectoryException) return "not a folder";
        if (e instanceof FileAlreadyExistsException) return "a file of that name is in the way";
        if (e instanceof FileSystemException fs && fs.getReason() != null) return fs.getReason();
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }
}
