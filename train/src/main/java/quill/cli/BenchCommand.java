package quill.cli;

import picocli.CommandLine.Command;

import java.util.concurrent.Callable;

@Command(name = "bench", mixinStandardHelpOptions = true, description = "Time training steps.")
public final class BenchCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new CliException("'quill bench' is not implemented yet.");
    }
}
