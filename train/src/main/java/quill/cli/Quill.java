package quill.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
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
        return new CommandLine(new Quill())
                .setCaseInsensitiveEnumValuesAllowed(true)
                .setExecutionExceptionHandler(Quill::reportFailure);
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
