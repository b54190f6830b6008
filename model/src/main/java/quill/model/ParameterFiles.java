package quill.model;

import quill.io.Npy;

import org.nd4j.linalg.api.ndarray.INDArray;
import quill.autograd.Parameter;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** A folder of parameters, one {@code <state-dict name>.npy} each, as PyTorch's layout. */
final class ParameterFiles {
    private ParameterFiles() {
    }

    static void save(Collection<Parameter> params, Path dir) throws IOException {
        Files.createDirectories(dir);
        for (Parameter p : params) Npy.write(p.value(), dir.resolve(p.name() + ".npy"));
    }

    /** Reads every parameter first, then assigns them all: a bad folder leaves the model as it was. */
    static void load(Map<String, Parameter> params, Path dir, GptConfig config) throws IOException {
        read(params, dir, config).forEach((name, value) -> {
            Parameter p = params.get(name);
            p.value().assign(value.castTo(p.dataType()));
        });
    }

    /**
     * One array per parameter, from {@code <name>.npy} in {@code dir} with the parameter's shape; a missing
     * file, a wrong shape or a .npy that is no parameter of the model is an error naming the file.
     */
    static Map<String, INDArray> read(Map<String, Parameter> params, Path dir, GptConfig config) throws IOException {
        if (!Files.isDirectory(dir)) throw new IOException("no such folder: " + dir);
        List<String> unknown = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            files.map(f -> f.getFileName().toString()).filter(n -> n.endsWith(".npy")).sorted().forEach(n -> {
                if (!params.containsKey(n.substring(0, n.length() - 4))) unknown.add(n);
            });
        }
        if (!unknown.isEmpty()) {
            String name = unknown.get(0);
            String why = name.endsWith(".bias.npy") && !config.bias() ? "a bias, but this model has bias=false"
                    : name.startsWith("lm_head.") ? "lm_head is tied to transformer.wte and has no file of its own"
                    : name.startsWith("transformer.wpe.") ? "this model has no learned positions (pos "
                            + Architecture.name(config.arch().pos()) + ")"
                    : "no parameter of this model (" + config + ") has that name";
            throw new IOException("unknown parameter file " + dir.resolve(name) + ": " + why);
        }
        Map<String, INDArray> loaded = new LinkedHashMap<>();
        for (Parameter p : params.values()) {
            loaded.put(p.name(), Npy.read(dir.resolve(p.name() + ".npy"), p.shape()));
        }
        return loaded;
    }
}
