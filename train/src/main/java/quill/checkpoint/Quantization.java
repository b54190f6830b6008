package quill.checkpoint;

import com.google.gson.JsonObject;

import java.util.Locale;

/**
 * Symmetric integer weight quantisation, the scheme of LLM.int8()'s vector-wise int8 (Dettmers et al. 2022) and
 * of GPTQ / llama.cpp's grouped int4 (Frantar et al. 2023), without their refinements: each weight w of a group
 * becomes the integer {@code q = round(w / scale)}, {@code scale = max|w| / qmax} over the group, and comes back as
 * {@code q * scale}. Rounding to the nearest step costs at most half a step: {@code |w - q scale| <= scale / 2}.
 *
 * <ul>
 *   <li>8 bits: one group per output row (a Linear weight's row, an embedding's token), q in [-127, 127];</li>
 *   <li>4 bits: groups of {@code groupSize} consecutive weights of a row, q in [-7, 7], two to a byte
 *       (an even column in the low four bits, stored as q + 8).</li>
 * </ul>
 * Symmetric: no zero point, so 0 stays exactly 0, and -128 / -8 are unused so that the range is the same both ways.
 * The step is set by the largest |w| of the group: one outlier makes the step, and the error, of its whole group
 * larger. Smaller groups (4 bits) confine an outlier's damage, at the cost of one float scale per group.
 *
 * @param bits      8 or 4
 * @param groupSize weights per scale for 4 bits; 0 for 8 bits (one scale per row)
 */
public record Quantization(int bits, int groupSize) {

    public Quantization {
        if (bits != 8 && bits != 4) throw new IllegalArgumentException("--bits must be 8 or 4, got " + bits);
        if (bits == 8 && groupSize != 0) {
            throw new IllegalArgumentException("--group-size is for 4 bits; 8 bits has one scale per row");
        }
        if (bits == 4 && (groupSize < 2 || groupSize % 2 != 0)) {
            throw new IllegalArgumentException("--group-size must be even and at least 2, got " + groupSize);
        }
    }

    /** A quantised matrix: its integers ({@link #bytesPerRow} bytes a row), scales ({@link #groupsPerRow} a row). */
    public record Quantized(byte[] q, float[] scales) {
    }

    /** The largest integer: 127 or 7. */
    public int qmax() {
        return (1 << (bits - 1)) - 1;
    }

    /** Weights per scale in a row of {@code cols}. */
    public int groupWidth(int cols) {
        return bits == 8 ? cols : groupSize;
    }

    public int groupsPerRow(int cols) {
        return (cols + groupWidth(cols) - 1) / groupWidth(cols);
    }

    public int bytesPerRow(int cols) {
        return bits == 8 ? cols : (cols + 1) / 2;
    }

    /** Quantises {@code w}, a (rows, cols) matrix in row-major order. */
    public Quantized quantize(float[] w, int rows, int cols) {
        int g = groupWidth(cols), groups = groupsPerRow(cols), qmax = qmax();
        byte[] q = new byte[rows * bytesPerRow(cols)];
        float[] scales = new float[rows * groups];
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < groups; k++) {
                int from = r * cols + k * g, to = r * cols + Math.min(cols, (k + 1) * g);
                float max = 0;
                for (int i = from; i < to; i++) max = Math.max(max, Math.abs(w[i]));
                float scale = max / qmax;                                  // scale = max|w| / qmax
                scales[r * groups + k] = scale;
                for (int i = from; i < to; i++) {
                    int v = scale == 0 ? 0 : Math.round(w[i] / scale);     // q = round(w / scale), in [-qmax, qmax]
                    put(q, r, i - r * cols, cols, Math.max(-qmax, Math.min(qmax, v)));
                }
            }
        }
        return new Quantized(q, scales);
    }

    /** The weights back: {@code q * scale}, a (rows, cols) matrix in row-major order. */
    public float[] dequantize(Quantized m, int rows, int cols) {
        int g = groupWidth(cols), groups = groupsPerRow(cols);
        float[] w = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) w[r * cols + c] = get(m.q(), r, c, cols) * m.scales()[r * groups + c / g];
        }
        return w;
    }

    private void put(byte[] q, int r, int c, int cols, int v) {
        if (bits == 8) {
            q[r * cols + c] = (byte) v;
        } else {
            int at = r * bytesPerRow(cols) + c / 2, nibble = v + 8;     // 1..15
            q[at] = (byte) (c % 2 == 0 ? (q[at] & 0xF0) | nibble : (q[at] & 0x0F) | nibble << 4);
        }
    }

    private int get(byte[] q, int r, int c, int cols) {
        if (bits == 8) return q[r * cols + c];
        int b = q[r * bytesPerRow(cols) + c / 2] & 0xFF;
        return (c % 2 == 0 ? b & 0x0F : b >> 4) - 8;
    }

    /** "int8, one scale per row" or "int4, groups of 32". */
    public String describe() {
        return bits == 8 ? "int8, one scale per row" : String.format(Locale.ROOT, "int4, groups of %d", groupSize);
    }

    /** The {@code quantization} block of checkpoint.json. */
    JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("bits", bits);
        o.addProperty("group_size", groupSize);
        o.addProperty("scheme", "symmetric");
        return o;
    }

    static Quantization fromJson(JsonObject o) {
        if (!o.has("scheme") || !"symmetric".equals(o.get("scheme").getAsString())) {
            throw new IllegalArgumentException("unknown quantization scheme " + o.get("scheme"));
        }
        return new Quantization(o.get("bits").getAsInt(), o.get("group_size").getAsInt());
    }
}
