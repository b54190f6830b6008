package quill.interop;

import net.razorvine.pickle.IObjectConstructor;
import net.razorvine.pickle.IObjectDeconstructor;
import net.razorvine.pickle.Opcodes;
import net.razorvine.pickle.PickleException;
import net.razorvine.pickle.Pickler;
import net.razorvine.pickle.Unpickler;
import quill.checkpoint.AtomicFiles;

import java.io.BufferedOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

/**
 * PyTorch's checkpoint file: what {@code torch.save} writes and {@code torch.load} reads (PyTorch 1.6 and later).
 * It is a zip archive whose entries all sit in one folder ({@code archive/} here; torch.save names it after the file):
 * <ul>
 *   <li>{@code data.pkl}: the saved object (a dict of dicts, lists, numbers, strings and tensors) in Python's pickle
 *       format, protocol 2. A tensor is pickled as the call {@code torch._utils._rebuild_tensor_v2(storage,
 *       storage_offset, size, stride, requires_grad, backward_hooks)} that rebuilds it, and its storage as a
 *       <em>persistent id</em>, the tuple {@code ('storage', torch.FloatStorage, key, location, numel)}: the
 *       pickle holds no numbers, only the name of the entry that does;</li>
 *   <li>{@code data/<key>}: one storage's elements, raw little-endian bytes. Tensors that share a storage (nanoGPT's
 *       {@code lm_head.weight} is {@code transformer.wte.weight}) name the same key. PyTorch starts every entry's
 *       bytes at a multiple of 64 in the file (padding in the zip header's extra field, id {@code "FB"}), so a
 *       reader can map them straight into memory; so does this writer;</li>
 *   <li>{@code byteorder} ({@code little}) and {@code version} (the format's version, 3).</li>
 * </ul>
 * Entries are stored, not compressed. {@link #write} takes {@link Map}s (a {@link LinkedHashMap} keeps its order,
 * as a Python dict does), {@link OrderedDict}s, {@link List}s, {@code Object[]} (a tuple), strings, numbers,
 * booleans, null (None) and {@link TorchTensor}s; {@link #read} gives back the same kinds (a dict's items in no
 * particular order), with every tensor converted to float. Python's pickle format is read and written by Pyrolite
 * ({@code net.razorvine:pickle}); this class adds only what is PyTorch's: the storages, the zip layout and the three
 * globals above.
 */
public final class TorchFile {
    /** The folder of every entry; torch.load accepts any name. */
    private static final String ARCHIVE = "archive/";
    /** PyTorch aligns every entry's data to this many bytes (caffe2/serialize/inline_container.cc). */
    private static final int ALIGNMENT = 64;
    /** The format version torch.save writes (kProducedFileFormatVersion). */
    private static final String VERSION = "3\n";
    /** A zip entry's local header before its name: 30 bytes. */
    private static final int LOCAL_HEADER = 30;
    /** A fixed time for every entry (1 Jan 2000), so that the same checkpoint gives the same bytes. */
    private static final long ENTRY_TIME = 946_684_800_000L;
    /** A legacy checkpoint (torch.save before PyTorch 1.6) starts with the pickled number 0x1950a86a20f9469cfc6c. */
    private static final byte[] LEGACY_MAGIC = {(byte) 0x80, 0x02, (byte) 0x8a, 0x0a, 0x6c, (byte) 0xfc, (byte) 0x9c,
            0x46};

    /** A Python {@code collections.OrderedDict}: what {@code model.state_dict()} returns. */
    public static final class OrderedDict extends LinkedHashMap<Object, Object> {
        /** What unpickling does with the instance attributes torch adds (a state dict's {@code _metadata}): nothing. */
        public void __setstate__(HashMap<?, ?> state) {
            // the version numbers of modules' state-dict layouts; nanoGPT's modules have none that matter
        }
    }

    /** The storage classes of torch, each a type of element: {@code torch.FloatStorage} holds float32. */
    private record StorageType(String name, String dtype, int bytes) implements IObjectConstructor {
        @Override
        public Object construct(Object[] args) {
            throw new PickleException("torch." + name + " is called in this pickle; only checkpoints' storages are"
                    + " supported");
        }
    }

    private static final List<StorageType> STORAGE_TYPES = List.of(
            new StorageType("FloatStorage", "float32", 4), new StorageType("DoubleStorage", "float64", 8),
            new StorageType("HalfStorage", "float16", 2), new StorageType("BFloat16Storage", "bfloat16", 2),
            new StorageType("LongStorage", "int64", 8), new StorageType("IntStorage", "int32", 4),
            new StorageType("ShortStorage", "int16", 2), new StorageType("CharStorage", "int8", 1),
            new StorageType("ByteStorage", "uint8", 1), new StorageType("BoolStorage", "bool", 1));

    /** One storage being written: the tensor whose values it holds, as the persistent id will name it. */
    private record StorageRef(TorchTensor tensor) {
    }

    /** A storage read back: its element type and bytes. */
    private record Storage(StorageType type, ByteBuffer bytes) {
    }

    static {
        // a tensor: torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks)
        Pickler.registerCustomDeconstructor(TorchTensor.class, new IObjectDeconstructor() {
            public String getModule() {
                return "torch._utils";
            }

            public String getName() {
                return "_rebuild_tensor_v2";
            }

            public Object[] deconstruct(Object o) {
                TorchTensor t = (TorchTensor) o;
                if (!t.dtype().equals("float32")) {
                    throw new PickleException("only float32 tensors are written, not " + t);
                }
                return new Object[]{new StorageRef(t), 0, tuple(t.shape()), tuple(strides(t.shape())), false,
                        new OrderedDict()};
            }
        });
        // collections.OrderedDict(), then its items
        Pickler.registerCustomPickler(OrderedDict.class, (o, out, pickler) -> {
            out.write(Opcodes.GLOBAL);
            out.write("collections\nOrderedDict\n".getBytes(StandardCharsets.US_ASCII));
            out.write(Opcodes.EMPTY_TUPLE);
            out.write(Opcodes.REDUCE);
            OrderedDict dict = (OrderedDict) o;
            if (dict.isEmpty()) return;
            out.write(Opcodes.MARK);
            for (Map.Entry<Object, Object> e : dict.entrySet()) {
                pickler.save(e.getKey());
                pickler.save(e.getValue());
            }
            out.write(Opcodes.SETITEMS);
        });
        // a storage class is named, never called: torch.FloatStorage
        Pickler.registerCustomPickler(StorageType.class, (o, out, pickler) -> {
            out.write(Opcodes.GLOBAL);
            out.write(("torch\n" + ((StorageType) o).name() + "\n").getBytes(StandardCharsets.US_ASCII));
        });

        for (StorageType type : STORAGE_TYPES) Unpickler.registerConstructor("torch", type.name(), type);
        Unpickler.registerConstructor("torch._utils", "_rebuild_tensor_v2", args -> rebuildTensor(args));
        // _rebuild_parameter(data, requires_grad, backward_hooks): the data will do
        Unpickler.registerConstructor("torch._utils", "_rebuild_parameter", args -> args[0]);
        Unpickler.registerConstructor("collections", "OrderedDict", args -> {
            OrderedDict dict = new OrderedDict();
            if (args.length == 1 && args[0] instanceof List<?> items) { // OrderedDict([[key, value], ...])
                for (Object item : items) {
                    List<?> pair = item instanceof Object[] a ? Arrays.asList(a) : (List<?>) item;
                    dict.put(pair.get(0), pair.get(1));
                }
            }
            return dict;
        });
    }

    private TorchFile() {
    }

    /**
     * Writes {@code obj} as torch.save would, atomically: {@code file} holds its old content or all of the new.
     * The same {@link TorchTensor} object used twice is stored once, and torch.load gives back tensors that share it.
     */
    public static void write(Path file, Object obj) throws IOException {
        StorageWriter pickler = new StorageWriter();
        byte[] pickle;
        try {
            pickle = pickler.dumps(obj);
        } catch (PickleException e) {
            throw new IllegalArgumentException("cannot pickle the checkpoint: " + e.getMessage(), e);
        }
        AtomicFiles.replace(file, temp -> {
            try (CountingStream counted = new CountingStream(new BufferedOutputStream(Files.newOutputStream(temp),
                    1 << 16)); ZipOutputStream zip = new ZipOutputStream(counted)) {
                put(zip, counted, "data.pkl", pickle);
                put(zip, counted, "byteorder", "little".getBytes(StandardCharsets.US_ASCII));
                for (int key = 0; key < pickler.storages.size(); key++) {
                    float[] values = pickler.storages.get(key).values();
                    ByteBuffer bytes = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
                    bytes.asFloatBuffer().put(values);
                    put(zip, counted, "data/" + key, bytes.array());
                }
                put(zip, counted, "version", VERSION.getBytes(StandardCharsets.US_ASCII));
            }
        });
    }

    /** The pickler of {@link #write}: gives each tensor's storage a key, in the order they are met. */
    private static final class StorageWriter extends Pickler {
        final List<TorchTensor> storages = new ArrayList<>();
        final Map<TorchTensor, String> keys = new IdentityHashMap<>();

        StorageWriter() {
            super(false); // no memo: every value is written out, as the weights-only unpickler of torch.load likes
        }

        @Override
        protected Object persistentId(Object obj) {
            if (!(obj instanceof StorageRef ref)) return null;
            String key = keys.computeIfAbsent(ref.tensor(), t -> {
                storages.add(t);
                return Integer.toString(storages.size() - 1);
            });
            return new Object[]{"storage", STORAGE_TYPES.get(0), key, "cpu", (long) ref.tensor().values().length};
        }
    }

    /** Adds a stored entry whose bytes start at a multiple of {@link #ALIGNMENT} in the file, as PyTorch's do. */
    private static void put(ZipOutputStream zip, CountingStream counted, String name, byte[] bytes) throws IOException {
        ZipEntry e = new ZipEntry(ARCHIVE + name);
        e.setMethod(ZipEntry.STORED);
        e.setSize(bytes.length);
        e.setCompressedSize(bytes.length);
        CRC32 crc = new CRC32();
        crc.update(bytes);
        e.setCrc(crc.getValue());
        e.setTime(ENTRY_TIME);
        long dataStart = counted.written + LOCAL_HEADER + e.getName().getBytes(StandardCharsets.UTF_8).length + 4;
        int pad = (int) ((ALIGNMENT - dataStart % ALIGNMENT) % ALIGNMENT);
        byte[] extra = new byte[4 + pad];                          // id "FB", the length, then padding
        Arrays.fill(extra, (byte) 'Z');
        extra[0] = 'F';
        extra[1] = 'B';
        extra[2] = (byte) pad;
        extra[3] = (byte) (pad >> 8);
        e.setExtra(extra);
        zip.putNextEntry(e);
        zip.write(bytes);
        zip.closeEntry();
    }

    /** Counts the bytes written, to know where the next zip entry begins. */
    private static final class CountingStream extends FilterOutputStream {
        long written;

        CountingStream(OutputStream out) {
            super(out);
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            written++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            written += len;
        }
    }

    /**
     * Reads what torch.save wrote. A file that is not a PyTorch checkpoint, a truncated or damaged one, or one
     * saved in PyTorch's format of before 1.6 is an {@link IOException} whose message names the file and says which.
     */
    public static Object read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new IOException("no file at " + file);
        byte[] head;
        try (InputStream in = Files.newInputStream(file)) {
            head = in.readNBytes(LEGACY_MAGIC.length);
        }
        if (Arrays.equals(head, LEGACY_MAGIC)) {
            throw new IOException(file + " is in PyTorch's format of before version 1.6; load it and torch.save it"
                    + " again with a newer PyTorch");
        }
        if (head.length < 4 || head[0] != 'P' || head[1] != 'K' || head[2] != 3 || head[3] != 4) {
            throw new IOException(file + " is not a PyTorch checkpoint (torch.save writes a zip archive, and this file"
                    + " is not one)");
        }
        ZipFile zip;
        try {
            zip = new ZipFile(file.toFile());
        } catch (ZipException e) {
            throw new IOException(file + " is truncated or damaged: it is not a whole zip archive (" + e.getMessage()
                    + "), perhaps a partial copy", e);
        }
        try (zip) {
            String pkl = zip.stream().map(ZipEntry::getName).filter(n -> n.endsWith("data.pkl")
                    && n.indexOf('/') == n.length() - "/data.pkl".length()).findFirst().orElse(null);
            if (pkl == null) {
                throw new IOException(file + " is a zip archive but not a PyTorch checkpoint: it has no data.pkl");
            }
            String prefix = pkl.substring(0, pkl.length() - "data.pkl".length());
            ZipEntry order = zip.getEntry(prefix + "byteorder");
            String byteOrder = order == null ? "little"
                    : new String(entry(zip, order, file), StandardCharsets.US_ASCII);
            if (!byteOrder.trim().equals("little")) {
                throw new IOException(file + " was saved on a big-endian machine; load it and torch.save it again on a"
                        + " little-endian one");
            }
            StorageReader unpickler = new StorageReader(zip, prefix, file);
            try {
                return unpickler.loads(entry(zip, zip.getEntry(pkl), file));
            } catch (PickleException | ClassCastException | IllegalArgumentException | IndexOutOfBoundsException e) {
                throw new IOException(file + " is damaged or not a checkpoint this reader knows: its data.pkl cannot be"
                        + " read (" + e.getMessage() + ")", e);
            } catch (UncheckedStorageException e) {
                throw e.getCause();
            }
        }
    }

    /** The unpickler of {@link #read}: fetches each storage from its zip entry the first time a tensor names it. */
    private static final class StorageReader extends Unpickler {
        private final ZipFile zip;
        private final String prefix;
        private final Path file;
        private final Map<String, Storage> loaded = new HashMap<>();

        StorageReader(ZipFile zip, String prefix, Path file) {
            this.zip = zip;
            this.prefix = prefix;
            this.file = file;
        }

        @Override
        protected Object persistentLoad(Object pid) {
            if (!(pid instanceof Object[] id) || id.length != 5 || !"storage".equals(id[0])) {
                String shown = pid instanceof Object[] a ? Arrays.toString(a) : String.valueOf(pid);
                throw new PickleException("unknown persistent id " + shown);
            }
            if (!(id[1] instanceof StorageType type)) throw new PickleException("unsupported storage type " + id[1]);
            String key = String.valueOf(id[2]);
            long numel = ((Number) id[4]).longValue();
            return loaded.computeIfAbsent(key, k -> {
                ZipEntry e = zip.getEntry(prefix + "data/" + k);
                try {
                    if (e == null) throw new IOException(file + " is damaged: it lacks the storage data/" + k);
                    byte[] bytes = entry(zip, e, file);
                    if (bytes.length < numel * type.bytes()) {
                        throw new IOException(file + " is damaged: storage data/" + k + " holds " + bytes.length
                                + " bytes, not the " + numel * type.bytes() + " of " + numel + " " + type.dtype()
                                + " elements");
                    }
                    return new Storage(type, ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN));
                } catch (IOException io) {
                    throw new UncheckedStorageException(io);
                }
            });
        }
    }

    /** Carries a storage's {@link IOException} out of the unpickler. */
    private static final class UncheckedStorageException extends RuntimeException {
        UncheckedStorageException(IOException cause) {
            super(cause);
        }

        @Override
        public synchronized IOException getCause() {
            return (IOException) super.getCause();
        }
    }

    /** An entry's bytes, checked against its CRC-32 (ZipFile does not check stored entries). */
    private static byte[] entry(ZipFile zip, ZipEntry e, Path file) throws IOException {
        byte[] bytes;
        try (InputStream in = zip.getInputStream(e)) {
            bytes = in.readAllBytes();
        } catch (ZipException z) {
            throw new IOException(file + " is damaged: entry " + e.getName() + " cannot be read (" + z.getMessage()
                    + ")", z);
        }
        CRC32 crc = new CRC32();
        crc.update(bytes);
        if (e.getCrc() != -1 && crc.getValue() != e.getCrc()) {
            throw new IOException(file + " is damaged: entry " + e.getName() + " does not match its CRC-32");
        }
        return bytes;
    }

    /** {@code _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])}. */
    private static TorchTensor rebuildTensor(Object[] args) {
        Storage storage = (Storage) args[0];
        long offset = ((Number) args[1]).longValue();
        long[] size = longs(args[2]);
        long[] stride = longs(args[3]);
        long numel = TorchTensor.numel(size);
        if (numel > Integer.MAX_VALUE) throw new PickleException("a tensor of " + numel + " elements is too large");
        long capacity = storage.bytes().capacity() / storage.type().bytes();
        float[] values = new float[(int) numel];
        if (Arrays.equals(stride, strides(size))) {                   // contiguous, as state dicts are
            if (offset + numel > capacity) throw new PickleException("a tensor reaches past the end of its storage");
            for (int i = 0; i < values.length; i++) values[i] = element(storage, (int) (offset + i));
            return new TorchTensor(storage.type().dtype(), size, values);
        }
        long[] index = new long[size.length];
        for (int i = 0; i < values.length; i++) {                     // C order: the last index moves fastest
            long at = offset;
            for (int d = 0; d < size.length; d++) at += index[d] * stride[d];
            if (at < 0 || at >= capacity) throw new PickleException("a tensor reaches past the end of its storage");
            values[i] = element(storage, (int) at);
            for (int d = size.length - 1; d >= 0 && ++index[d] == size[d]; d--) index[d] = 0;
        }
        return new TorchTensor(storage.type().dtype(), size, values);
    }

    /** Element {@code i} of a storage, as a float. */
    private static float element(Storage s, int i) {
        ByteBuffer b = s.bytes();
        return switch (s.type().dtype()) {
            case "float32" -> b.getFloat(4 * i);
            case "float64" -> (float) b.getDouble(8 * i);
            case "float16" -> halfToFloat(b.getShort(2 * i));
            case "bfloat16" -> Float.intBitsToFloat((b.getShort(2 * i) & 0xffff) << 16); // the top half of a float32
            case "int64" -> b.getLong(8 * i);
            case "int32" -> b.getInt(4 * i);
            case "int16" -> b.getShort(2 * i);
            case "int8" -> b.get(i);
            case "uint8", "bool" -> b.get(i) & 0xff;
            default -> throw new PickleException("unsupported element type " + s.type().dtype());
        };
    }

    /** IEEE 754 half precision (1 sign, 5 exponent, 10 fraction bits) to float, exactly. */
    static float halfToFloat(short half) {
        int h = half & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exponent = (h >> 10) & 0x1f;
        int fraction = h & 0x3ff;
        if (exponent == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | fraction << 13);   // inf, NaN
        if (exponent == 0) {                                                                      // zero, subnormal
            float magnitude = fraction * 0x1p-24f;
            return sign == 0 ? magnitude : -magnitude;
        }
        return Float.intBitsToFloat(sign | (exponent + 112) << 23 | fraction << 13);             // 127 - 15 = 112
    }

    private static long[] longs(Object tuple) {
        Object[] items = tuple instanceof Object[] a ? a : ((List<?>) tuple).toArray();
        long[] out = new long[items.length];
        for (int i = 0; i < items.length; i++) out[i] = ((Number) items[i]).longValue();
        return out;
    }

    private static Object[] tuple(long[] values) {
        Object[] t = new Object[values.length];
        for (int i = 0; i < values.length; i++) t[i] = values[i];
        return t;
    }

    /** A contiguous tensor's strides: how many elements one step along each axis skips. */
    private static long[] strides(long[] shape) {
        long[] stride = new long[shape.length];
        long s = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            stride[d] = s;
            s *= shape[d];
        }
        return stride;
    }
}
