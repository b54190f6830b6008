package quill.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reading .npy files: what NumPy writes reads back exactly; a damaged or unsupported file is a clear error. */
class NpyTest {

    @TempDir
    Path tmp;

    @Test
    void whatItWritesReadsBack() throws IOException {
        INDArray a = Nd4j.createFromArray(new float[][]{{1, 2, 3}, {4, 5, 6}});
        Npy.write(a, tmp.resolve("a.npy"));
        assertEquals(a, Npy.read(tmp.resolve("a.npy"), 2, 3));
        INDArray ids = Nd4j.createFromArray(new int[][]{{7, 8}, {9, 10}});
        Npy.write(ids, tmp.resolve("ids.npy"));
        INDArray back = Npy.read(tmp.resolve("ids.npy"));
        assertEquals(DataType.INT, back.dataType());
        assertEquals(ids, back);
    }

    /** NumPy's own bytes: a Fortran-ordered float64 array, and a 0-d one. */
    @Test
    void readsNumpysLayouts() throws IOException {
        Path f = write("f.npy", "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
                doubles(1, 4, 2, 5, 3, 6));
        assertArrayEquals(new double[][]{{1, 2, 3}, {4, 5, 6}}, Npy.read(f).toDoubleMatrix());
        Path s = write("s.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", floats(2.5f));
        INDArray scalar = Npy.read(s);
        assertEquals(1, scalar.length());
        assertEquals(2.5, scalar.getDouble(0));
    }

    @Test
    void aTruncatedFileIsAnErrorNotGarbage() throws IOException {
        Path f = write("t.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4), }", floats(1, 2, 3));
        IOException e = assertThrows(IOException.class, () -> Npy.read(f));
        assertTrue(e.getMessage().contains(f + " is truncated"), e.getMessage());
        assertTrue(e.getMessage().contains("64 bytes"), e.getMessage());
    }

    @Test
    void bigEndianAndUnknownTypesAreClearErrors() throws IOException {
        Path big = write("b.npy", "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", floats(1, 2));
        IOException e = assertThrows(IOException.class, () -> Npy.read(big));
        assertTrue(e.getMessage().contains("big-endian"), e.getMessage());
        Path str = write("u.npy", "{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }", new byte[12]);
        e = assertThrows(IOException.class, () -> Npy.read(str));
        assertTrue(e.getMessage().contains("'<U3'"), e.getMessage());
        Path junk = Files.write(tmp.resolve("j.npy"), new byte[]{(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 100, 0});
        e = assertThrows(IOException.class, () -> Npy.read(junk));
        assertTrue(e.getMessage().contains(junk.toString()), e.getMessage());
    }

    /** A version 1.0 .npy with this header (padded as NumPy pads it) and data. */
    private Path write(String name, String header, byte[] data) throws IOException {
        int unpadded = 10 + header.length() + 1;
        String padded = header + " ".repeat((64 - unpadded % 64) % 64) + "\n";
        ByteBuffer b = ByteBuffer.allocate(10 + padded.length() + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[]{(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) padded.length());
        b.put(padded.getBytes(StandardCharsets.ISO_8859_1)).put(data);
        return Files.write(tmp.resolve(name), b.array());
    }

    private static byte[] floats(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) b.putFloat(x);
        return b.array();
    }

    private static byte[] doubles(double... v) {
        ByteBuffer b = ByteBuffer.allocate(8 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (double x : v) b.putDouble(x);
        return b.array();
    }


    /** The reader without ND4J (quill sample's): float32 of the expected shape only, errors naming the file. */
    @Test
    void floatsAreReadWithoutNd4jAndCheckedAgainstTheirShape() throws IOException {
        Path f = tmp.resolve("w.npy");
        Npy.write(Nd4j.createFromArray(new float[][]{{1, 2, 3}, {4, 5, 6}}), f);
        byte[] bytes = Files.readAllBytes(f);
        assertArrayEquals(new float[]{1, 2, 3, 4, 5, 6}, Npy.readFloats(bytes, "w.npy", 2, 3));
        IOException shape = assertThrows(IOException.class, () -> Npy.readFloats(bytes, "w.npy", 3, 2));
        assertTrue(shape.getMessage().contains("w.npy has shape [2, 3], expected [3, 2]"), shape.getMessage());
        Npy.write(Nd4j.createFromArray(new int[]{1, 2}), f);
        byte[] ints = Files.readAllBytes(f);
        IOException type = assertThrows(IOException.class, () -> Npy.readFloats(ints, "ids.npy", 2));
        assertTrue(type.getMessage().contains("ids.npy holds '<i4' values, not float32"), type.getMessage());
        IOException cut = assertThrows(IOException.class,
                () -> Npy.readFloats(java.util.Arrays.copyOf(bytes, bytes.length - 4), "w.npy", 2, 3));
        assertTrue(cut.getMessage().contains("w.npy is truncated"), cut.getMessage());
    }
}
