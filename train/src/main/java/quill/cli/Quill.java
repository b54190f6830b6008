package quill.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import quill.runtime.Backend;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Properties;

/** The {@code quill} command: one subcommand per thing a learner does. */
@Command(name = "quill",
        mixinStandardHelpOptions = true,
        versionProvider = Quill.Version.class,
        description = "A from-scratch GPT trainer on ND4J: characters or byte-level BPE, nanoGPT's model and its"
                + " modern variants.")   // its subcommands: COMMANDS below
public final class Quill implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "Missing command: try 'quill --help'.");
    }

    /** The subcommands, in the order {@code quill --help} lists them. */
    private static final List<Class<?>> COMMANDS = List.of(
            PrepareCommand.class,
            TokenizeCommand.class,
            TrainCommand.class,
            SampleCommand.class,
            CheckReferenceCommand.class,
            BenchCommand.class,
            AttentionCommand.class,
            CompareCommand.class,
            ReportCommand.class,
            EvalCommand.class,
            QuantizeCommand.class,
            MergeLoraCommand.class,
            ExportCommand.class,
            ImportCommand.class,
            CommandLine.HelpCommand.class);

    public static void main(String[] args) {
        System.setProperty("java.awt.headless", "true");       // pictures are drawn into files, never shown
        if (startsNd4jEarly(args)) Backend.startInBackground();
        System.exit(commandLineFor(args).execute(args));
    }

    /**
     * Whether ND4J should start at once, beside the parsing of the options and the reading of the checkpoint: for
     * {@code sample --no-kv-cache}, whose whole run is a few seconds (half a second of it ND4J's start), not for its
     * help or version. A sample with the cache mostly needs no ND4J at all ({@code quill.model.FastGpt}).
     */
    static boolean startsNd4jEarly(String[] args) {
        List<String> words = Arrays.asList(args);
        return !words.isEmpty() && words.get(0).equals("sample") && words.contains("--no-kv-cache")
                && Collections.disjoint(words, List.of("-h", "--help", "-V", "--version"));
    }

    /** The configured command line; tests call {@code execute} on it instead of {@link #main}. */
    public static CommandLine commandLine() {
        return commandLine(COMMANDS);
    }

    /**
     * The command line for {@code args}: with only the subcommand they name, when they name one other than help.
     * Picocli reads every subcommand's options by reflection as it builds them, about a tenth of a second for all of
     * them in a fresh JVM, and that is on the way to every command's first line of work (a sample's whole run is a
     * few seconds).
     */
    static CommandLine commandLineFor(String[] args) {
        for (Class<?> command : COMMANDS) {
            String name = command.getAnnotation(Command.class).name();
            if (args.length > 0 && args[0].equals(name) && command != CommandLine.HelpCommand.class) {
                return commandLine(List.of(command));
            }
        }
        return commandLine();
    }

    private static CommandLine commandLine(List<Class<?>> commands) {
        CommandLine cli = new CommandLine(new Quill()) {
            @Override
            public int execute(String... args) {
                return super.execute(kebabCase(this, args));
            }
        };
        for (Class<?> command : commands) {
            // a CommandLine of its own, so that the command's model transformer runs (train's flags come from one)
            CommandLine sub = new CommandLine(command);
            sub.getCommandSpec().versionProvider(new Version());    // `quill sample -V` says Quill's version too
            cli.addSubcommand(sub);
        }
        return cli.setCaseInsensitiveEnumValuesAllowed(true)
                .setExecutionExceptionHandler(Quill::reportFailure)
                .setParameterExceptionHandler(Quill::reportUsageError)
                .setExecutionStrategy(Quill::execute);
    }

    /**
     * nanoGPT's snake_case spelling of an option ({@code --max_iters=2000}) as Quill's kebab-case one
     * ({@code --max-iters=2000}), for every option the subcommand has; other arguments stay as they are.
     */
    static String[] kebabCase(CommandLine cli, String[] args) {
        CommandLine cmd = args.length > 0 && cli.getSubcommands().containsKey(args[0])
                ? cli.getSubcommands().get(args[0]) : cli;
        String[] out = args.clone();
        for (int i = 0; i < out.length && !out[i].equals("--"); i++) {
            if (!out[i].startsWith("--") || !out[i].contains("_")) continue;
            int eq = out[i].indexOf('=');
            String name = eq < 0 ? out[i] : out[i].substring(0, eq);
            String kebab = "--" + name.substring(2).replace('_', '-');
            if (cmd.getCommandSpec().findOption(kebab) != null) out[i] = kebab + (eq < 0 ? "" : out[i].substring(eq));
        }
        return out;
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
