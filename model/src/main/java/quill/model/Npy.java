package quill.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;

/** NumPy's .npy files, the format PyTorch dumps and our checkpoints share. Errors name the file. */
public final class Npy {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};

    private Npy() {
    }

    /** Reads an array (outside any workspace). */
    public static INDArray read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new IOException("missing file " + file);
        byte[] head = new byte[MAGIC.length];
        try (InputStream in = Files.newInputStream(file)) {
            if (in.readNBytes(head, 0, head.length) != head.length || !Arrays.equals(head, MAGIC)) {
                throw new IOException(file + " is not a .npy file");
            }
        }
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            return Nd4j.createFromNpyFile(file.toFile());
        } catch (RuntimeException e) {
            throw new IOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** Reads an array that must have the given shape. */
    public static INDArray read(Path file, long... shape) throws IOException {
        INDArray a = read(file);
        if (!Arrays.equals(a.shape(), shape)) {
            throw new IOException(file + " has shape " + Arrays.toString(a.shape()) + ", expected " + Arrays.toString(shape));
        }
        return a;
    }

    /**
     * Writes {@code a} as float32 (integer arrays keep their type). The file appears whole or not at all:
     * it is written beside and moved into place.
     */
    public static void write(INDArray a, Path file) throws IOException {
        INDArray out = a.dataType().isFPType() && a.dataType() != DataType.FLOAT ? a.castTo(DataType.FLOAT) : a;
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.write(tmp, Nd4j.toNpyByteArray(out.dup('c')));
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
