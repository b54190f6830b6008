package quill.checkpoint;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.temporal.ChronoUnit;

/**
 * One process at a time in a run folder: an exclusive lock on its {@code .quill.lock} file, which names the
 * process that holds it. The lock is the operating system's ({@link FileChannel#tryLock()}), so it ends with
 * its process however that ends: a run killed with {@code kill -9} leaves the file, not the lock, and the next
 * run takes it.
 */
public final class RunLock implements Closeable {
    static final String FILE = ".quill.lock";

    private final FileChannel channel;
    private final FileLock lock;
    private final String holder;

    private RunLock(FileChannel channel, FileLock lock, String holder) {
        this.channel = channel;
        this.lock = lock;
        this.holder = holder;
    }

    /**
     * Takes the lock of {@code dir} (creating the folder if needed) for {@code what}, the command that works there;
     * fails, naming the holder, when another process (or this one) has it.
     */
    public static RunLock acquire(Path dir, String what) throws IOException {
        Path file = dir.resolve(FILE);
        FileChannel channel;
        try {
            Files.createDirectories(dir);
            AtomicFiles.requireRegularOrAbsent(file);
            channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
        } catch (IOException e) {
            throw new IOException("cannot use the folder " + dir + " (" + AtomicFiles.reason(e) + ")", e);
        }
        try {
            FileLock lock;
            try {
                lock = channel.tryLock();
            } catch (OverlappingFileLockException e) { // held by this very process
                lock = null;
            }
            if (lock == null) {
                String other = holder(channel);
                throw new IOException(dir + " is in use by " + (other.isEmpty() ? "another process" : other)
                        + ": one run at a time in a folder; wait for it to end, stop it, or use another --out-dir");
            }
            String holder = "process " + ProcessHandle.current().pid() + " (" + what + ", started "
                    + Instant.now().truncatedTo(ChronoUnit.SECONDS) + ")";
            channel.truncate(0);
            channel.write(ByteBuffer.wrap((holder + "\n").getBytes(StandardCharsets.UTF_8)), 0);
            return new RunLock(channel, lock, holder);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    /** The first line of the lock file: who holds it (empty if unknown). */
    private static String holder(FileChannel channel) throws IOException {
        ByteBuffer bytes = ByteBuffer.allocate(512);
        channel.read(bytes, 0);
        String text = new String(bytes.array(), 0, bytes.position(), StandardCharsets.UTF_8);
        return text.lines().findFirst().orElse("").strip();
    }

    @Override
    public void close() throws IOException {
        try {
            lock.release();
        } finally {
            channel.close();
        }
    }

    @Override
    public String toString() {
        return holder;
    }
}
