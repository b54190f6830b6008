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
                + "the loss before each optimizer step and every parameter after them.",
                "By default it computes twice: in float64, the precision PyTorch computed the dump in, where every"
                        + " row is judged; and in float32, training's precision, where the rows the dump's README"
                        + " gives float32 tolerances for are judged (logits, loss, gradients, step losses) and the"
                        + " parameters after the steps are shown.",
                "Exits 0 when every judged row is within its tolerance, 1 otherwise."})
public final class CheckReferenceCommand implements Callable<Integer> {

    /** Which computations to run. */
    enum Precision { both, float64, float32 }

    @Parameters(paramLabel = "DIR", description = "a reference dump, e.g. ../shared/reference/gpt-tiny")
    Path dir;

    @Option(names = "--precision", paramLabel = "P", defaultValue = "both",
            description = "both (default), float64 or float32.")
    Precision precision;

    @Option(names = "--double", description = "The same as --precision float64.")
    boolean useDouble;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        Precision p = useDouble ? Precision.float64 : precision;
        ReferenceCheck.Dump dump = ReferenceCheck.readConfig(dir);
        GptConfig m = dump.model();
        out.printf("Reference %s: vocab %d, block %d, %d layers, %d heads, embd %d, bias %s, %s; %d %s steps%n",
                dir, m.vocabSize(), m.blockSize(), m.nLayer(), m.nHead(), m.nEmbd(), m.bias(),
                quill.train.Trainer.describe(m.arch()), dump.steps(), dump.muon() == null ? "AdamW" : "Muon + AdamW");
        out.printf("Computing in %s.%nRelative error = max |ours - PyTorch| / max |PyTorch| over the tensor.%n",
                switch (p) {
                    case both -> "float64 (every row judged) and float32 (training's precision: the parameters after"
                            + " the steps shown, not judged)";
                    case float64 -> "float64 (every row judged)";
                    case float32 -> "float32 (training's precision: the parameters after the steps shown, not judged)";
                });
        out.printf("Tolerances: logits %.0e, loss %.0e, gradients %.0e, step losses %.0e,"
                + " parameters after the steps %.0e%n%n",
                ReferenceCheck.LOGITS_TOLERANCE, ReferenceCheck.LOSS_TOLERANCE, ReferenceCheck.GRADIENT_TOLERANCE,
                ReferenceCheck.STEP_LOSS_TOLERANCE, ReferenceCheck.PARAMETER_TOLERANCE);
        List<Row> f64 = p == Precision.float32 ? null : ReferenceCheck.run(dir, DataType.DOUBLE);
        List<Row> f32 = p == Precision.float64 ? null : ReferenceCheck.run(dir, DataType.FLOAT);
        List<Row> rows = f64 != null ? f64 : f32;
        int width = rows.stream().mapToInt(r -> r.tensor().length()).max().orElse(6);
        String format = "%-" + width + "s  %-12s  %13s  %13s  %9s  %s%n";
        out.printf(format, "tensor", "shape", "float64 error", "float32 error", "tolerance", "");
        int failed = 0, noted = 0;
        double largestNoted = 0;
        for (int i = 0; i < rows.size(); i++) {
            Row a = f64 == null ? null : f64.get(i), b = f32 == null ? null : f32.get(i);
            boolean ok = (a == null || a.ok()) && (b == null || b.ok() || !b.float32Tolerance());
            boolean note = ok && b != null && !b.ok();
            if (!ok) failed++;
            if (note) {
                noted++;
                largestNoted = Math.max(largestNoted, b.maxRelError());
            }
            Row r = rows.get(i);
            out.printf(format, r.tensor(), shape(r.shape()), error(a), error(b), String.format("%.0e", r.tolerance()),
                    !ok ? "FAIL" : note ? "OK, float32 noted" : "OK");
        }
        out.println();
        if (noted > 0) {
            out.printf("Noted: in float32, %d of the parameters after the steps differ by up to %.1e, more than %.0e."
                    + " The dump's%n", noted, largestNoted, ReferenceCheck.PARAMETER_TOLERANCE);
            out.println("README gives no float32 tolerance there: where a gradient element cancels to near AdamW's eps,"
                    + " m / (sqrt(v)");
            out.println("+ eps) turns float32 rounding into a different step, and PyTorch's own float32 misses 1e-4"
                    + " there too (README,");
            out.println("\"Checking against PyTorch\"). float64 judges the same math on every row.");
        }
        if (failed == 0) {
            out.printf("All %d tensors match PyTorch%s.%n", rows.size(), switch (p) {
                case both -> " in float64, and in float32 on every row with a float32 tolerance";
                case float64 -> " in float64";
                case float32 -> " in float32 on every row with a float32 tolerance";
            });
            return 0;
        }
        out.printf("%d of %d tensors differ from PyTorch by more than their tolerance.%n", failed, rows.size());
        return 1;
    }

    private static String error(Row r) {
        return r == null ? "-" : String.format("%.3e", r.maxRelError());
    }

    private static String shape(long[] shape) {
        return shape.length == 0 ? "scalar" : Arrays.toString(shape).replace(" ", "");
    }
}
