package quill.cli;

import picocli.CommandLine.Command;

import java.util.concurrent.Callable;

@Command(name = "attention", mixinStandardHelpOptions = true, description = "Draw attention heatmaps for a prompt.")
public final class AttentionCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new CliException("'quill attention' is not implemented yet.");
    }
}
