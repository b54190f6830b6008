package quill.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Locale;
import java.util.Properties;

/** The {@code quill} command: one subcommand per thing a learner does. */
@Command(name = "quill",
        mixinStandardHelpOptions = true,
        versionProvider = Quill.Version.class,
        description = "A from-scratch, character-level GPT trainer on ND4J.",
        subcommands = {
                PrepareCommand.class,
                TokenizeCommand.class,
                TrainCommand.class,
                SampleCommand.class,
                CheckReferenceCommand.class,
                BenchCommand.class,
                AttentionCommand.class,
                CompareCommand.class,
                EvalCommand.class,
                QuantizeCommand.class,
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
                .setExecutionExceptionHandler(Quill::reportFailure)
                .setExecutionStrategy(Quill::execute);
    }

    /** Runs the command; running out of Java heap (an Error, which picocli passes on) is one line with the remedy. */
    private static int execute(CommandLine.ParseResult parsed) {
        try {
            return new CommandLine.RunLast().execute(parsed);
        } catch (OutOfMemoryError e) {
            long heap = Runtime.getRuntime().maxMemory();
            parsed.commandSpec().commandLine().getErr().printf(Locale.ROOT, "error: out of memory (%s): the Java heap"
                    + " holds %d MB; give Quill more, e.g. QUILL_JAVA_OPTS=-Xmx%dg ./quill ...%n", e.getMessage(),
                    heap >> 20, Math.max(2, 2 * Math.round(heap / 1e9)));
            return 1;
        } catch (InternalError e) { // how the JVM reports reading a page that left a memory-mapped file
            parsed.commandSpec().commandLine().getErr().println("error: " + e.getMessage() + ": a file Quill had"
                    + " mapped into memory (a dataset's train.bin or val.bin) was cut short by another program;"
                    + " prepare it again");
            return 1;
        }
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
