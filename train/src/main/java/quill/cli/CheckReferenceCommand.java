package quill.cli;

import org.nd4j.linalg.api.buffer.DataType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import quill.model.GptConfig;
import quill.model.ReferenceCheck;
import quill.model.ReferenceCheck.Row;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "check-reference", mixinStandardHelpOptions = true,
        description = {"Compare our model with a PyTorch reference dump: logits, loss, every gradient, "
                + "the loss before each AdamW step and every parameter after them.",
                "Exits 0 when every row is within its tolerance, 1 otherwise."})
public final class CheckReferenceCommand implements Callable<Integer> {

    @Parameters(paramLabel = "DIR", description = "a reference dump, e.g. ../shared/reference/gpt-tiny")
    Path dir;

    @Option(names = "--double", description = "compute in float64 instead of float32 (training's precision): "
            + "the errors then show how exactly the math matches, down to the dump's float32 rounding")
    boolean useDouble;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        ReferenceCheck.Dump dump = ReferenceCheck.readConfig(dir);
        GptConfig m = dump.model();
        out.printf("Reference %s: vocab %d, block %d, %d layers, %d heads, embd %d, bias %s, %s; %d %s steps%n",
                dir, m.vocabSize(), m.blockSize(), m.nLayer(), m.nHead(), m.nEmbd(), m.bias(),
                quill.train.Trainer.describe(m.arch()), dump.steps(), dump.muon() == null ? "AdamW" : "Muon + AdamW");
        out.printf("Computing in %s. Relative error = max |ours - PyTorch| / max |PyTorch| over the tensor.%n",
                useDouble ? "float64" : "float32");
        out.printf("Tolerances: logits %.0e, loss %.0e, gradients %.0e, step losses %.0e,"
                + " parameters after the steps %.0e%n%n",
                ReferenceCheck.LOGITS_TOLERANCE, ReferenceCheck.LOSS_TOLERANCE, ReferenceCheck.GRADIENT_TOLERANCE,
                ReferenceCheck.STEP_LOSS_TOLERANCE, ReferenceCheck.PARAMETER_TOLERANCE);
        List<Row> rows = ReferenceCheck.run(dir, useDouble ? DataType.DOUBLE : DataType.FLOAT);
        int width = rows.stream().mapToInt(r -> r.tensor().length()).max().orElse(6);
        String format = "%-" + width + "s  %-12s  %12s  %12s  %9s  %s%n";
        out.printf(format, "tensor", "shape", "max abs err", "max rel err", "tolerance", "");
        long failed = 0;
        for (Row r : rows) {
            if (!r.ok()) failed++;
            out.printf(format, r.tensor(), shape(r.shape()), String.format("%.3e", r.maxAbsError()),
                    String.format("%.3e", r.maxRelError()), String.format("%.0e", r.tolerance()),
                    r.ok() ? "OK" : "FAIL");
        }
        out.println();
        if (failed == 0) {
            out.printf("All %d tensors match PyTorch.%n", rows.size());
            return 0;
        }
        boolean onlyAfterSteps = rows.stream().allMatch(r -> r.ok() || r.tensor().startsWith("after "));
        if (onlyAfterSteps && !useDouble) {
            out.println("Only parameters after the optimizer steps differ: in float32, AdamW's step"
                    + " m / (sqrt(v) + eps)");
            out.println("magnifies the rounding of gradient elements near eps. --double checks the same math"
                    + " in float64.");
        }
        out.printf("%d of %d tensors differ from PyTorch by more than their tolerance.%n", failed, rows.size());
        return 1;
    }

    private static String shape(long[] shape) {
        return shape.length == 0 ? "scalar" : Arrays.toString(shape).replace(" ", "");
    }
}
