package quill.cli;

import picocli.CommandLine.Command;

import java.util.concurrent.Callable;

@Command(name = "prepare", mixinStandardHelpOptions = true, description = "Download and tokenize a dataset into data/<dataset>/.")
public final class PrepareCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new CliException("'quill prepare' is not implemented yet.");
    }
}
