package quill.train;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Finds files in {@code <repo root>/../shared}, the folder CI places beside the clone. Maven runs a
 * module's tests in the module's folder, so this walks up from the working directory.
 */
public final class SharedData {

    private SharedData() {
    }

    /** {@code shared/<relative>} in the nearest ancestor of the working directory that has it. */
    public static Optional<Path> find(String relative) {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolve("shared").resolve(relative);
            if (Files.exists(candidate)) return Optional.of(candidate);
        }
        return Optional.empty();
    }

    /** The local copy of Tiny Shakespeare, if this machine has one. */
    public static Optional<Path> tinyShakespeare() {
        return find("data/tinyshakespeare.txt");
    }
}
