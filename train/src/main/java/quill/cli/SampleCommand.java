package quill.cli;

import picocli.CommandLine.Command;

import java.util.concurrent.Callable;

@Command(name = "sample", mixinStandardHelpOptions = true, description = "Generate text from a checkpoint.")
public final class SampleCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new CliException("'quill sample' is not implemented yet.");
    }
}
