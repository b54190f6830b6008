package quill.io;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** NumPy's .npy files, the format PyTorch dumps and our checkpoints share. Errors name the file. */
public final class Npy {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    // the header is a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

    private Npy() {
    }

    /**
     * Reads an array (outside any workspace): float32, float64, int32 or int64, little-endian, in C or Fortran order,
     * as NumPy writes them. A file shorter or longer than its header says, or of another kind, is an error naming it.
     */
    public static INDArray read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new IOException("missing file " + file);
        Contents npy = parse(Files.readAllBytes(file), file.toString());
        int n = (int) npy.count();
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            INDArray flat = switch (npy.descr) {
                case "<f4" -> Nd4j.createFromArray(floats(npy.data, n));
                case "<f8" -> Nd4j.createFromArray(doubles(npy.data, n));
                case "<i4" -> Nd4j.createFromArray(ints(npy.data, n));
                default -> Nd4j.createFromArray(longs(npy.data, n));
            };
            if (npy.shape.length == 0) return flat.reshape();               // a 0-d array, as NumPy's
            return flat.reshape(npy.fortran ? 'f' : 'c', npy.shape).dup('c');
        }
    }

    /**
     * The values of a float32 .npy file's bytes that must have the given shape, in C order, without ND4J (for {@code
     * quill sample}, which then does not start it). {@code name} names the file in errors.
     */
    public static float[] readFloats(byte[] bytes, String name, long... shape) throws IOException {
        Contents npy = parse(bytes, name);
        if (!npy.descr.equals("<f4")) throw new IOException(name + " holds '" + npy.descr + "' values, not float32");
        if (!Arrays.equals(npy.shape, shape)) {
            throw new IOException(name + " has shape " + Arrays.toString(npy.shape) + ", expected "
                    + Arrays.toString(shape));
        }
        if (npy.fortran && shape.length > 1) throw new IOException(name + " is in Fortran order");
        return floats(npy.data, (int) npy.count());
    }

    /** A parsed .npy file: its header's fields and its data, checked to be as long as they say. */
    private record Contents(String descr, boolean fortran, long[] shape, ByteBuffer data) {
        long count() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }
    }

    private static Contents parse(byte[] all, String file) throws IOException {
        ByteBuffer bytes = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.remaining() < 10 || !Arrays.equals(bytes.array(), 0, MAGIC.length, MAGIC, 0, MAGIC.length)) {
            throw new IOException(file + " is not a .npy file");
        }
        int major = bytes.get(6);
        bytes.position(8);
        long headerLength = major == 1 ? Short.toUnsignedInt(bytes.getShort()) : Integer.toUnsignedLong(bytes.getInt());
        if (major < 1 || major > 3 || headerLength > bytes.remaining()) {
            throw new IOException(file + " is not a .npy file NumPy wrote (version " + major
                    + ", or its header is cut short)");
        }
        String header = new String(bytes.array(), bytes.position(), (int) headerLength, StandardCharsets.ISO_8859_1);
        bytes.position(bytes.position() + (int) headerLength);

        String descr = field(header, DESCR, "descr", file);
        boolean fortran = field(header, FORTRAN, "fortran_order", file).equals("True");
        long[] shape = shape(field(header, SHAPE, "shape", file), file);
        if (descr.startsWith(">")) {
            throw new IOException(file + " is big-endian ('" + descr + "'); Quill reads little-endian .npy files"
                    + " (in NumPy: np.save(path, a.astype(a.dtype.newbyteorder('<'))))");
        }
        int itemSize = switch (descr) {
            case "<f4", "<i4" -> 4;
            case "<f8", "<i8" -> 8;
            default -> throw new IOException(file + " holds '" + descr + "' values; Quill reads float32, float64, int32"
                    + " and int64 (little-endian)");
        };
        Contents npy = new Contents(descr, fortran, shape, bytes);
        long n = npy.count();
        if (n > Integer.MAX_VALUE - 8) throw new IOException(file + " holds " + n + " values, more than Quill reads");
        long expected = n * itemSize;
        if (bytes.remaining() != expected) {
            String what = bytes.remaining() < expected ? " is truncated" : " is longer than its header says";
            throw new IOException(file + what + ": shape " + Arrays.toString(shape) + " of '" + descr + "' is "
                    + expected + " bytes of data, but it holds " + bytes.remaining());
        }
        return npy;
    }

    private static String field(String header, Pattern pattern, String name, String file) throws IOException {
        Matcher m = pattern.matcher(header);
        if (!m.find()) throw new IOException(file + " has a .npy header without '" + name + "': " + header.strip());
        return m.group(1);
    }

    private static long[] shape(String text, String file) throws IOException {
        List<Long> dims = new ArrayList<>();
        for (String d : text.split(",")) {
            if (d.isBlank()) continue;
            try {
                long v = Long.parseLong(d.strip().replace("L", ""));
                if (v < 0 || v > Integer.MAX_VALUE) throw new NumberFormatException();
                dims.add(v);
            } catch (NumberFormatException e) {
                throw new IOException(file + " has a .npy header with a bad shape: (" + text + ")");
            }
        }
        return dims.stream().mapToLong(Long::longValue).toArray();
    }

    private static float[] floats(ByteBuffer b, int n) {
        float[] v = new float[n];
        b.asFloatBuffer().get(v);
        return v;
    }

    private static double[] doubles(ByteBuffer b, int n) {
        double[] v = new double[n];
        b.asDoubleBuffer().get(v);
        return v;
    }

    private static int[] ints(ByteBuffer b, int n) {
        int[] v = new int[n];
        b.asIntBuffer().get(v);
        return v;
    }

    private static long[] longs(ByteBuffer b, int n) {
        long[] v = new long[n];
        b.asLongBuffer().get(v);
        return v;
    }

    /** Reads an array that must have the given shape. */
    public static INDArray read(Path file, long... shape) throws IOException {
        INDArray a = read(file);
        if (!Arrays.equals(a.shape(), shape)) {
            throw new IOException(file + " has shape " + Arrays.toString(a.shape()) + ", expected "
                    + Arrays.toString(shape));
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
