package quill.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Properties;

/** The {@code quill} command: one subcommand per thing a learner does. */
@Command(name = "quill",
        mixinStandardHelpOptions = true,
        versionProvider = Quill.Version.class,
        description = "A from-scratch, character-level GPT trainer on ND4J.",
        subcommands = {
                PrepareCommand.class,
                TrainCommand.class,
                SampleCommand.class,
                CheckReferenceCommand.class,
                BenchCommand.class,
                AttentionCommand.class,
                ExportCommand.class,
                ImportCommand.class,
                CommandLine.HelpCommand.class,
        })
public final class Quill implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "Missing command: try 'quill --help'.");
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The configured command line; tests call {@code execute} on it instead of {@link #main}. */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new Quill())
                .setCaseInsensitiveEnumValuesAllowed(true)
                .setExecutionExceptionHandler(Quill::reportFailure)
                .setParameterExceptionHandler(Quill::reportUsageError);
        cli.getSubcommands().values().forEach(Quill::addSnakeCaseNames);
        return cli;
    }

    /**
     * Every option spelt in kebab-case ({@code --max-iters}) also answers to nanoGPT's snake_case
     * ({@code --max_iters=2000}): a hidden second option that sets the same field.
     */
    private static void addSnakeCaseNames(CommandLine cmd) {
        for (CommandLine.Model.OptionSpec option : List.copyOf(cmd.getCommandSpec().options())) {
            String name = option.longestName();
            if (!name.startsWith("--") || !name.substring(2).contains("-")) continue;
            String snake = "--" + name.substring(2).replace('-', '_');
            if (cmd.getCommandSpec().findOption(snake) != null) continue;
            cmd.getCommandSpec().addOption(CommandLine.Model.OptionSpec.builder(option).names(snake).hidden(true).build());
        }
    }

    /**
     * A usage error is the line that is wrong, picocli's suggestion when it has one, and where the help is: not
     * the whole usage text, in which the one line would be lost.
     */
    private static int reportUsageError(CommandLine.ParameterException e, String[] args) {
        CommandLine cmd = e.getCommandLine();
        PrintWriter err = cmd.getErr();
        err.println("error: " + e.getMessage());
        CommandLine.UnmatchedArgumentException.printSuggestions(e, err);
        err.println("see '" + cmd.getCommandSpec().qualifiedName() + " --help' for every option");
        return cmd.getCommandSpec().exitCodeOnInvalidInput();
    }

    /**
     * A user's mistake (bad file, bad setting, missing data) is one line on stderr and exit 1;
     * anything else is a bug in Quill and keeps its stack trace.
     */
    private static int reportFailure(Exception e, CommandLine cmd, CommandLine.ParseResult parsed) {
        if (e instanceof CliException || e instanceof IOException || e instanceof UncheckedIOException
                || e instanceof IllegalArgumentException) {
            cmd.getErr().println("error: " + e.getMessage());
            return 1;
        }
        throw new RuntimeException(e);
    }

    /** Reads the version Maven wrote into the jar. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() throws IOException {
            Properties p = new Properties();
            try (InputStream in = Quill.class.getResourceAsStream("/quill/version.properties")) {
                if (in != null) p.load(in);
            }
            return new String[]{"quill " + p.getProperty("version", "unknown")};
        }
    }
}
