package quill.random;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Against values PyTorch 1.13 drew (src/test/resources/torch-random.json says which calls). */
class TorchGeneratorTest {

    static JsonObject torchValues() throws IOException {
        try (Reader r = new InputStreamReader(TorchGeneratorTest.class.getResourceAsStream("/torch-random.json"),
                StandardCharsets.UTF_8)) {
            return JsonParser.parseReader(r).getAsJsonObject();
        }
    }

    static float[] floats(JsonArray a) {
        float[] f = new float[a.size()];
        for (int i = 0; i < f.length; i++) f[i] = a.get(i).getAsFloat();
        return f;
    }

    private static int[] ints(JsonArray a) {
        int[] v = new int[a.size()];
        for (int i = 0; i < v.length; i++) v[i] = a.get(i).getAsInt();
        return v;
    }

    private static int[] randint(TorchGenerator g, int high, int n) {
        int[] v = new int[n];
        for (int i = 0; i < n; i++) v[i] = g.randint(high);
        return v;
    }

    @Test
    void randintDrawsAsTorch() throws IOException {
        JsonObject torch = torchValues();
        assertArrayEquals(ints(torch.getAsJsonArray("randint_1003790")),
                randint(new TorchGenerator(1337), 1003790, 24));
    }

    /**
     * The vectorised path with a ragged end (40 = 2 x 16 + 8), the scalar path with its kept sine, uniform_,
     * and where the stream is after.
     */
    @Test
    void normalAndUniformDrawAsTorch() throws IOException {
        JsonObject torch = torchValues();
        TorchGenerator g = new TorchGenerator(7);
        float[] n40 = new float[40];
        g.normal(n40, 0, 0.02);
        assertArrayEquals(floats(torch.getAsJsonArray("normal_40_std002")), n40, 1e-8f);
        float[] n8 = new float[8];
        g.normal(n8, 0, 1);
        assertArrayEquals(floats(torch.getAsJsonArray("normal_8")), n8, 1e-6f);
        float[] n3 = new float[3];
        g.normal(n3, 0, 1);
        assertArrayEquals(floats(torch.getAsJsonArray("normal_3")), n3, 1e-6f);
        float[] u5 = floats(torch.getAsJsonArray("uniform_5"));
        for (float expected : u5) assertEquals(expected, g.uniformFloat() * 2 - 1, 1e-7f);
        assertArrayEquals(ints(torch.getAsJsonArray("randint_after")), randint(g, 100, 6));
    }

    @Test
    void aSavedStateContinuesTheSameStream() {
        TorchGenerator g = new TorchGenerator(42);
        g.skipUniform(1000);
        float[] n3 = new float[3];
        g.normal(n3, 0, 1);                                        // leaves a kept sine
        long[] state = g.state();
        int[] expected = randint(g, 1 << 30, 700);                 // crosses a twist
        float[] expectedNormal = new float[1];
        g.normal(expectedNormal, 0, 1);

        TorchGenerator h = new TorchGenerator(1);
        h.setState(state);
        assertArrayEquals(expected, randint(h, 1 << 30, 700));
        float[] normal = new float[1];
        h.normal(normal, 0, 1);
        assertArrayEquals(expectedNormal, normal);
        assertThrows(IllegalArgumentException.class, () -> h.setState(new long[3]));
    }
}
