package quill.interop;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TorchFileTest {
    @TempDir
    Path tmp;

    @Test
    void whatIsWrittenReadsBackWithSharedTensorsStoredOnce() throws IOException {
        TorchTensor w = TorchTensor.of(new long[]{2, 3}, new float[]{1, -2, 3.5f, 0, 1e-30f, Float.MAX_VALUE});
        TorchFile.OrderedDict model = new TorchFile.OrderedDict();
        model.put("wte", w);
        model.put("lm_head", w);
        Map<String, Object> obj = new LinkedHashMap<>();
        obj.put("model", model);
        obj.put("step", TorchTensor.scalar(7));
        obj.put("settings", new LinkedHashMap<>(Map.of("name", "héllo ✓", "lr", 6e-4, "on", true)));
        obj.put("betas", new Object[]{0.9, 0.95});
        obj.put("params", List.of(0, 1, 70000, 3_000_000_000L));
        obj.put("fused", null);
        Path file = tmp.resolve("ckpt.pt");
        TorchFile.write(file, obj);

        Map<?, ?> back = (Map<?, ?>) TorchFile.read(file);
        Map<?, ?> m = assertInstanceOf(TorchFile.OrderedDict.class, back.get("model"));
        assertEquals(java.util.Set.of("wte", "lm_head"), m.keySet()); // (Pyrolite reads a dict's items in no order)
        for (Object t : m.values()) {
            assertArrayEquals(w.values(), ((TorchTensor) t).values());
            assertArrayEquals(w.shape(), ((TorchTensor) t).shape());
            assertEquals("float32", ((TorchTensor) t).dtype());
        }
        TorchTensor step = (TorchTensor) back.get("step");
        assertEquals(0, step.shape().length);
        assertEquals(7f, step.values()[0]);
        assertEquals(Map.of("name", "héllo ✓", "lr", 6e-4, "on", true), back.get("settings"));
        assertArrayEquals(new Object[]{0.9, 0.95}, (Object[]) back.get("betas"));
        assertEquals(List.of(0, 1, 70000, 3_000_000_000L), back.get("params"));
        assertNull(back.get("fused"));
        assertTrue(back.containsKey("fused"));
        assertEquals(List.of("archive/data.pkl", "archive/byteorder", "archive/data/0", "archive/data/1",
                "archive/version"), entries(file).keySet().stream().toList(),
                "one storage for the tensor used twice, one for step");
    }

    /** PyTorch starts every entry's bytes at a multiple of 64 in the file, so they can be mapped into memory. */
    @Test
    void everyEntrysBytesStartAtAMultipleOf64() throws IOException {
        Path file = tmp.resolve("ckpt.pt");
        Map<String, Object> obj = new LinkedHashMap<>();
        for (int i = 0; i < 5; i++) obj.put("t" + "x".repeat(i), TorchTensor.of(new long[]{i + 1}, new float[i + 1]));
        TorchFile.write(file, obj);
        Map<String, Long> starts = entries(file);
        assertEquals(8, starts.size());
        starts.forEach((name, start) -> assertEquals(0, start % 64, name + " starts at " + start));
    }

    /** Each zip entry's name and the file offset where its bytes start, from the local headers. */
    private static Map<String, Long> entries(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        Map<String, Long> starts = new LinkedHashMap<>();
        int at = 0;
        while (b.getInt(at) == 0x04034b50) {                       // a local file header
            int size = b.getInt(at + 18), nameLength = b.getShort(at + 26), extraLength = b.getShort(at + 28);
            String name = new String(Arrays.copyOfRange(b.array(), at + 30, at + 30 + nameLength));
            int start = at + 30 + nameLength + extraLength;
            starts.put(name, (long) start);
            at = start + size;
        }
        return starts;
    }

    @Test
    void halfPrecisionConvertsExactly() {
        assertEquals(1f, TorchFile.halfToFloat((short) 0x3c00));
        assertEquals(-2f, TorchFile.halfToFloat((short) 0xc000));
        assertEquals(65504f, TorchFile.halfToFloat((short) 0x7bff));             // the largest half
        assertEquals(0x1p-24f, TorchFile.halfToFloat((short) 0x0001));           // the smallest subnormal
        assertEquals(0x1p-14f, TorchFile.halfToFloat((short) 0x0400));           // the smallest normal
        assertEquals(0.333251953125f, TorchFile.halfToFloat((short) 0x3555));
        assertEquals(Float.NEGATIVE_INFINITY, TorchFile.halfToFloat((short) 0xfc00));
        assertTrue(Float.isNaN(TorchFile.halfToFloat((short) 0x7e00)));
        assertEquals(-0f, TorchFile.halfToFloat((short) 0x8000));
    }

    @Test
    void aFileThatIsNoCheckpointIsOneClearError() throws IOException {
        Path text = Files.writeString(tmp.resolve("notes.pt"), "hello");
        assertMessage(text, "is not a PyTorch checkpoint (torch.save writes a zip archive, and this file is not one)");

        Path whole = tmp.resolve("whole.pt");
        TorchFile.write(whole, Map.of("w", TorchTensor.of(new long[]{1000}, new float[1000])));
        byte[] bytes = Files.readAllBytes(whole);
        Path truncated = Files.write(tmp.resolve("truncated.pt"), Arrays.copyOf(bytes, bytes.length / 2));
        assertMessage(truncated, "is truncated or damaged: it is not a whole zip archive");

        byte[] damaged = bytes.clone();
        damaged[bytes.length / 2] ^= 1;                          // inside the storage
        assertMessage(Files.write(tmp.resolve("damaged.pt"), damaged),
                "is damaged: entry archive/data/0 does not match its CRC-32");

        Path zip = tmp.resolve("other.zip");
        try (var out = new java.util.zip.ZipOutputStream(Files.newOutputStream(zip))) {
            out.putNextEntry(new java.util.zip.ZipEntry("readme.txt"));
            out.write(1);
        }
        assertMessage(zip, "is a zip archive but not a PyTorch checkpoint: it has no data.pkl");

        Path legacy = Files.write(tmp.resolve("legacy.pt"), new byte[]{(byte) 0x80, 0x02, (byte) 0x8a, 0x0a, 0x6c,
                (byte) 0xfc, (byte) 0x9c, 0x46, (byte) 0xf9, 0x20});
        assertMessage(legacy, "is in PyTorch's format of before version 1.6");
        assertMessage(tmp.resolve("missing.pt"), "no file at");
    }

    private static void assertMessage(Path file, String expected) {
        IOException e = assertThrows(IOException.class, () -> TorchFile.read(file));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
    }
}
