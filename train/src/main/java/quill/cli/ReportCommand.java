package quill.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import quill.plot.ReportPlot;
import quill.train.TrainConfig;
import quill.train.Trainer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code quill report}: one page of pictures of what happened inside a run. */
@Command(name = "report", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Draw one page of a run's health from its metrics.jsonl: loss, learning rate, gradient norm with"
                + " the clipped steps, update-to-weight ratio per layer, activations per block and attention entropy"
                + " per head (the last three need health-interval > 0)."})
public final class ReportCommand implements Callable<Integer> {

    @Parameters(paramLabel = "RUN", description = "A run folder ('quill train --out-dir').")
    Path run;

    @Option(names = "--out", paramLabel = "FILE.png", description = "Where the page goes (default: RUN/report.png).")
    Path out;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Path file = out != null ? out : run.resolve("report.png");
        ReportPlot.draw(run, file, title());
        spec.commandLine().getOut().println("wrote " + file);
        spec.commandLine().getOut().flush();
        return 0;
    }

    /** The run's folder and, when its settings can be read, its shape and architecture. */
    private String title() {
        String name = "Quill " + run.toAbsolutePath().normalize().getFileName();
        Path config = run.resolve("config.properties");
        try {
            TrainConfig c = TrainConfig.parseProperties(Files.readString(config), config.toString());
            return name + ": " + c.dataset() + ", " + c.nLayer() + " layers, " + c.nHead() + " heads, " + c.nEmbd()
                    + " embd, " + Trainer.describe(c.architecture()) + ", " + c.optimizer().name().toLowerCase()
                    + " lr " + c.learningRate();
        } catch (Exception e) {                       // a run without readable settings still gets its pictures
            return name;
        }
    }
}
