package quill.random;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;

import java.io.IOException;

/** The PyTorch-drawn test values of {@link TorchGeneratorTest}, for tests in other packages. */
public final class TorchGeneratorTestAccess {
    private TorchGeneratorTestAccess() {
    }

    public static JsonObject torchValues() throws IOException {
        return TorchGeneratorTest.torchValues();
    }

    public static float[] floats(JsonArray a) {
        return TorchGeneratorTest.floats(a);
    }
}
