package quill.model;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Our model against the PyTorch dump in ../shared/reference/gpt-tiny, in float32 as training runs. */
class ReferenceCheckTest {

    /** {@code <repo>/../shared/reference}, found by walking up from the module's working directory. */
    static Path referenceRoot() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolve("shared").resolve("reference");
            if (Files.isDirectory(candidate)) return candidate;
        }
        return null;
    }

    static Path gptTiny() {
        Path root = referenceRoot();
        Path dump = root == null ? null : root.resolve("gpt-tiny");
        assumeTrue(dump != null && Files.isDirectory(dump), "shared/reference/gpt-tiny is not beside the repository");
        return dump;
    }

    @Test
    void gptTinyMatchesPyTorchInFloat32() throws Exception {
        List<ReferenceCheck.Row> rows = ReferenceCheck.run(gptTiny(), DataType.FLOAT);
        for (ReferenceCheck.Row r : rows) assertTrue(r.ok(), r.tensor() + " off by " + r.maxRelError());
    }

    @Test
    void gptTinyMatchesPyTorchInFloat64() throws Exception {
        List<ReferenceCheck.Row> rows = ReferenceCheck.run(gptTiny(), DataType.DOUBLE);
        for (ReferenceCheck.Row r : rows) assertTrue(r.ok(), r.tensor() + " off by " + r.maxRelError());
    }
}
