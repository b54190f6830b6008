package quill.cli;

import picocli.CommandLine.Command;

import java.util.concurrent.Callable;

@Command(name = "check-reference", mixinStandardHelpOptions = true, description = "Compare our model with a PyTorch reference dump.")
public final class CheckReferenceCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new CliException("'quill check-reference' is not implemented yet.");
    }
}
