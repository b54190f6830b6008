package quill.model;

import com.google.gson.JsonObject;
import org.junit.jupiter.api.Test;
import quill.autograd.Parameter;
import quill.random.TorchGenerator;

import java.io.IOException;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Against the weights nanoGPT's GPT(config) gets after torch.manual_seed(1337), drawn by PyTorch 1.13. */
class GptInitTest {

    @Test
    void aSeedGivesNanoGptsInitialWeights() throws IOException {
        JsonObject torch = quill.random.TorchGeneratorTestAccess.torchValues();
        JsonObject c = torch.getAsJsonObject("tiny_config");
        GptConfig config = new GptConfig(c.get("vocab").getAsInt(), c.get("block").getAsInt(),
                c.get("n_layer").getAsInt(), c.get("n_head").getAsInt(), c.get("n_embd").getAsInt(), 0.0,
                c.get("bias").getAsBoolean());
        TorchGenerator g = new TorchGenerator(1337);
        Gpt model = Gpt.drawnFrom(config, g);

        JsonObject expected = torch.getAsJsonObject("tiny_params");
        Map<String, Parameter> params = model.parameters();
        assertEquals(expected.keySet(), params.keySet());
        for (String name : expected.keySet()) {
            float[] want = quill.random.TorchGeneratorTestAccess.floats(expected.getAsJsonArray(name));
            assertArrayEquals(want, params.get(name).value().reshape(-1).toFloatVector(), 2e-8f, name);
        }
        // and the generator is where nanoGPT's is when it draws the first batch
        int[] next = new int[5];
        for (int i = 0; i < next.length; i++) next[i] = g.randint(1000);
        int[] want = new int[5];
        for (int i = 0; i < want.length; i++) want[i] =
                torch.getAsJsonArray("tiny_randint_after_init").get(i).getAsInt();
        assertArrayEquals(want, next);
    }
}
