package quill.checkpoint;

import com.google.gson.JsonObject;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import quill.autograd.Parameter;
import quill.model.Gpt;
import quill.io.Npy;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.zip.Deflater;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

/**
 * A checkpoint whose matrices are integers with scales ({@link Quantization}): what {@code quill quantize} writes.
 * It is a {@link Checkpoint} zip with
 * <ul>
 *   <li>{@code checkpoint.json}'s {@code quantization} block: {@code bits}, {@code group_size}, {@code scheme};</li>
 *   <li>{@code quantized/<name>.npy}: the integers of every 2-D weight (Linear and embedding weights, whatever the
 *       architecture: the rank decides, not a list of names), int8 (rows, cols) or, for 4 bits, uint8
 *       (rows, ceil(cols / 2)) with two values a byte;</li>
 *   <li>{@code quantized/<name>.scales.npy}: their float32 scales, (rows, groups per row);</li>
 *   <li>{@code model/<name>.npy}: the other weights (norms, biases) in float32, as usual;</li>
 *   <li>no optimizer state: a quantised model is for inference, and {@code --resume} refuses it.</li>
 * </ul>
 *
 * <p>Loading dequantises into an ordinary float model ({@link #dequantize}): the forward pass is then the float
 * one, exact for the rounded weights. Quill's CPU products are float BLAS; the win of such a file is its size.
 */
public final class QuantizedCheckpoint {
    static final String QUANTIZED = "quantized/";
    static final String KEY = "quantization";

    private QuantizedCheckpoint() {
    }

    /** Writes {@code model} (loaded from {@code source}) quantised to {@code target}, atomically. */
    public static void write(Checkpoint source, Gpt model, Quantization scheme, Path target) throws IOException {
        JsonObject meta = new JsonObject();
        meta.addProperty("format", Checkpoint.FORMAT);
        meta.add("model", Checkpoint.GSON.toJsonTree(model.config()));
        meta.add("state", Checkpoint.GSON.toJsonTree(source.state()));
        meta.add(KEY, scheme.toJson());
        AtomicFiles.replace(target, temp -> {
            try (ZipOutputStream zip = new ZipOutputStream(
                    new BufferedOutputStream(Files.newOutputStream(temp), 1 << 16))) {
                zip.setLevel(Deflater.BEST_COMPRESSION);       // small files; the integers compress a little
                put(zip, Checkpoint.META, utf8(Checkpoint.GSON.toJson(meta)));
                put(zip, Checkpoint.CONFIG, utf8(source.config().toProperties()));
                put(zip, Checkpoint.TOKENIZER, utf8(Checkpoint.GSON.toJson(source.tokenizer().toJson())));
                for (Parameter p : model.parameters().values()) {
                    INDArray w = p.value().castTo(DataType.FLOAT).dup('c');
                    if (p.shape().length != 2) {                              // norm weights, biases: float32
                        put(zip, Checkpoint.MODEL + p.name() + ".npy", Nd4j.toNpyByteArray(w));
                        continue;
                    }
                    int rows = (int) p.shape()[0], cols = (int) p.shape()[1];
                    Quantization.Quantized q = scheme.quantize(w.data().asFloat(), rows, cols);
                    put(zip, QUANTIZED + p.name() + ".npy",
                            npy(intType(scheme), rows, scheme.bytesPerRow(cols), q.q()));
                    ByteBuffer scales = ByteBuffer.allocate(4 * q.scales().length).order(ByteOrder.LITTLE_ENDIAN);
                    scales.asFloatBuffer().put(q.scales());
                    put(zip, QUANTIZED + p.name() + ".scales.npy",
                            npy("<f4", rows, scheme.groupsPerRow(cols), scales.array()));
                }
            }
        });
    }

    /**
     * Writes every quantised weight of {@code zip}, dequantised, as {@code <name>.npy} into {@code dir} (which already
     * holds the float ones), for {@link Gpt#load}. Each entry must have the shape the model's parameter implies.
     */
    static void dequantize(ZipFile zip, Path file, Quantization scheme, Map<String, Parameter> params, Path dir)
            throws IOException {
        for (Parameter p : params.values()) {
            if (p.shape().length != 2) continue;
            int rows = (int) p.shape()[0], cols = (int) p.shape()[1];
            float[] w = dequantized(zip, file, scheme, p.name(), rows, cols);
            Npy.write(Nd4j.create(w, new long[]{rows, cols}, 'c'), dir.resolve(p.name() + ".npy"));
        }
    }

    /** The quantised weight {@code name}, (rows, cols), dequantised: its integers times their scales. */
    static float[] dequantized(ZipFile zip, Path file, Quantization scheme, String weight, int rows, int cols)
            throws IOException {
        String name = QUANTIZED + weight;
        byte[] q = readNpy(zip, file, name + ".npy", intType(scheme), rows, scheme.bytesPerRow(cols));
        byte[] s = readNpy(zip, file, name + ".scales.npy", "<f4", rows, scheme.groupsPerRow(cols));
        float[] scales = new float[rows * scheme.groupsPerRow(cols)];
        ByteBuffer.wrap(s).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(scales);
        for (float scale : scales) {
            if (!(scale >= 0) || Float.isInfinite(scale)) {
                throw corrupt(file, name + ".scales.npy holds a scale of " + scale);
            }
        }
        return scheme.dequantize(new Quantization.Quantized(q, scales), rows, cols);
    }

    /** numpy's type of the integers: int8, or uint8 holding two 4-bit values. */
    private static String intType(Quantization scheme) {
        return scheme.bits() == 8 ? "|i1" : "|u1";
    }

    private static byte[] utf8(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static void put(ZipOutputStream zip, String name, byte[] bytes) throws IOException {
        zip.putNextEntry(new ZipEntry(name));
        zip.write(bytes);
        zip.closeEntry();
    }

    /** A .npy file (format 1.0) of bytes or floats, shape (rows, cols), C order: numpy.load reads it. */
    private static byte[] npy(String descr, int rows, int cols, byte[] data) {
        byte[] header = header(descr, rows, cols);
        byte[] out = Arrays.copyOf(header, header.length + data.length);
        System.arraycopy(data, 0, out, header.length, data.length);
        return out;
    }

    private static byte[] header(String descr, int rows, int cols) {
        String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + rows + ", " + cols + "), }";
        int pad = 64 - (10 + dict.length() + 1) % 64;      // magic, version, length, dict, '\n': a multiple of 64
        String text = dict + " ".repeat(pad % 64) + "\n";
        ByteBuffer b = ByteBuffer.allocate(10 + text.length()).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[]{(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) text.length());
        b.put(text.getBytes(StandardCharsets.US_ASCII));
        return b.array();
    }

    /**
     * The data bytes of a .npy entry that must be exactly {@code descr} of shape (rows, cols): the header is compared
     * with the one {@link #npy} writes, and the length must match to the byte.
     */
    private static byte[] readNpy(ZipFile zip, Path file, String name, String descr, int rows, int cols)
            throws IOException {
        ZipEntry e = zip.getEntry(name);
        if (e == null) throw corrupt(file, "it lacks " + name);
        byte[] all;
        try (InputStream in = zip.getInputStream(e)) {
            all = in.readAllBytes();
        } catch (ZipException z) {
            throw corrupt(file, "entry " + name + " is damaged (" + z.getMessage() + ")");
        }
        byte[] header = header(descr, rows, cols);
        int width = descr.equals("<f4") ? 4 : 1;
        if (all.length != header.length + (long) rows * cols * width
                || !Arrays.equals(Arrays.copyOf(all, header.length), header)) {
            throw corrupt(file, name + " is not " + descr + " of shape (" + rows + ", " + cols
                    + ") as the model needs");
        }
        return Arrays.copyOfRange(all, header.length, all.length);
    }

    private static IOException corrupt(Path file, String why) {
        return new IOException("quantised checkpoint " + file + " is incomplete or corrupt: " + why);
    }
}
