package quill.cli;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import quill.plot.RunComparison;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code quill compare}: several runs in one picture and one table. */
@Command(name = "compare", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
                "Compare training runs: one picture of val loss against iteration and against wall-clock seconds,"
                + " a line per run named by its folder and the settings in which it differs from the others,"
                + " and a table of best and last val loss, median ms/iter, parameters and wall time."})
public final class CompareCommand implements Callable<Integer> {

    @Parameters(paramLabel = "RUN", arity = "1..*", description = "Run folders ('quill train --out-dir').")
    List<Path> runs;

    @Option(names = "--out", paramLabel = "FILE.png", defaultValue = "compare.png",
            description = "Where the picture goes (default: ${DEFAULT-VALUE} in the current folder).")
    Path out;

    @Option(names = "--train", description = "Also draw each run's train loss by iteration, dashed: where it parts"
            + " from the val loss, the run overfits.")
    boolean train;

    @Option(names = "--json", description = "Print the table as JSON instead (the picture is still drawn).")
    boolean json;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        RunComparison comparison = RunComparison.load(runs);
        comparison.draw(out, train);
        PrintWriter stdout = spec.commandLine().getOut();
        if (json) {
            JsonArray rows = new JsonArray();
            for (RunComparison.Run r : comparison.runs()) {
                JsonObject o = new JsonObject();
                o.addProperty("run", r.dir().toString());
                JsonObject d = new JsonObject();
                r.differences().forEach(d::addProperty);
                o.add("differs_in", d);
                o.addProperty("best_val_loss", r.bestVal());
                o.addProperty("best_iter", r.bestIter());
                o.addProperty("last_val_loss", r.lastVal());
                o.addProperty("last_iter", r.lastIter());
                o.addProperty("median_ms_per_iter", r.medianMs());
                o.addProperty("parameters", r.parameters());
                o.addProperty("wall_s", r.wallSeconds());
                rows.add(o);
            }
            stdout.println(new GsonBuilder().setPrettyPrinting().serializeSpecialFloatingPointValues().create()
                    .toJson(rows));
        } else {
            stdout.print(comparison.table());
            stdout.println("wrote " + out);
        }
        stdout.flush();
        return 0;
    }
}
