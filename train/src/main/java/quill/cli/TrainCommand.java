package quill.cli;

import picocli.CommandLine.Command;

import java.util.concurrent.Callable;

@Command(name = "train", mixinStandardHelpOptions = true, description = "Train a GPT.")
public final class TrainCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new CliException("'quill train' is not implemented yet.");
    }
}
