package quill.cli;

import java.io.PrintWriter;
import java.io.StringWriter;

/** One {@code quill} command run in-process, as a user would type it: its exit code and what it printed. */
record CliRun(int exitCode, String out, String err) {

    static CliRun quill(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exitCode = Quill.commandLine()
                .setOut(new PrintWriter(out, true))
                .setErr(new PrintWriter(err, true))
                .execute(args);
        return new CliRun(exitCode, out.toString(), err.toString());
    }
}
