package quill.train;

import quill.checkpoint.AtomicFiles;

import com.google.gson.Gson;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.annotations.SerializedName;

import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code metrics.jsonl}: one JSON object a line, easy to read back in a notebook
 * ({@code pandas.read_json(path, lines=True)}) or with {@code jq}. A step line per optimizer step
 * ({@code iter, loss, lr, ms, tokens_per_s, grad_norm, clipped}), a health line every {@code health-interval} steps
 * ({@code iter, health}: {@link HealthStats}) and an eval line per evaluation
 * ({@code iter, train_loss, val_loss, elapsed_s}); at the end of a run, the final model's loss over the whole val
 * split ({@code iter, full_val_loss, full_val_bits_per_char, full_val_tokens}: {@link FullEval}), also after each eval
 * that reached {@code target-val-loss}, and the time it was reached ({@code iter, target_val_loss, time_to_target_s}).
 *
 * <p>Lines are buffered and reach the disk at {@link #flush()} (the trainer flushes at each console
 * update and each eval), so logging costs a training step almost nothing.
 */
public final class MetricsLog implements Closeable {

    /**
     * After optimizer step {@code iter}: its loss, learning rate, time and speed, the global gradient norm before
     * clipping and whether clipping scaled it down (both null in files written before they were recorded).
     */
    public record Step(int iter, double loss, double lr, double ms, @SerializedName("tokens_per_s") double tokensPerS,
                       @SerializedName("grad_norm") Double gradNorm, Boolean clipped) {
        public Step(int iter, double loss, double lr, double ms, double tokensPerS) {
            this(iter, loss, lr, ms, tokensPerS, null, null);
        }
    }

    /**
     * The evaluation at iteration {@code iter}, before that iteration's step; {@code elapsedS} is the run's wall
     * time at the eval's end, in seconds since training started (across resumes), null in files written before
     * it was recorded.
     */
    public record Eval(int iter, @SerializedName("train_loss") double trainLoss,
            @SerializedName("val_loss") double valLoss,
                       @SerializedName("elapsed_s") Double elapsedS) {
        public Eval(int iter, double trainLoss, double valLoss) {
            this(iter, trainLoss, valLoss, null);
        }
    }

    private static final Gson GSON = new Gson();

    private final BufferedWriter out;

    private MetricsLog(BufferedWriter out) {
        this.out = out;
    }

    /** Starts a new file, replacing an old one. */
    public static MetricsLog create(Path file) throws IOException {
        AtomicFiles.write(file, new byte[0]); // replaces only a regular file
        return append(file);
    }

    /**
     * Continues {@code file} for a run resumed at iteration {@code iter}: keeps the step lines before
     * {@code iter} and the eval lines up to {@code lastEvalIter}, dropping what the interrupted run
     * logged after its checkpoint (the resumed run does those iterations again).
     */
    public static MetricsLog resume(Path file, int iter, int lastEvalIter) throws IOException {
        StringBuilder text = new StringBuilder();                         // the kept lines, as they were written
        if (Files.isRegularFile(file)) {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                JsonObject o = parse(line);
                if (o == null) continue;
                int at = o.get("iter").getAsInt();
                if (o.has("val_loss") ? at <= lastEvalIter : at < iter) text.append(line).append('\n');
            }
        }
        // a new file renamed over the old: a kill now leaves the old lines or the kept ones, never an empty file
        AtomicFiles.write(file, text.toString().getBytes(StandardCharsets.UTF_8));
        return append(file);
    }

    private static MetricsLog append(Path file) throws IOException {
        return new MetricsLog(Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.APPEND,
                LinkOption.NOFOLLOW_LINKS));
    }

    /** The step and eval lines of a file, for redrawing a plot. Lines that do not parse are skipped. */
    public static void read(Path file, List<Step> steps, List<Eval> evals) throws IOException {
        for (JsonObject o : lines(file)) {
            if (o.has("val_loss")) evals.add(GSON.fromJson(o, Eval.class));
            else if (o.has("loss")) steps.add(GSON.fromJson(o, Step.class));
        }
    }

    public void step(Step s) throws IOException {
        out.write(GSON.toJson(s));
        out.newLine();
    }

    public void eval(Eval e) throws IOException {
        out.write(GSON.toJson(e));
        out.newLine();
    }

    /** A step's {@link HealthStats} line. */
    public void health(JsonObject line) throws IOException {
        out.write(GSON.toJson(line));
        out.newLine();
    }

    /** The final model's {@link FullEval} over the val split, after iteration {@code iter}. */
    public void fullEval(int iter, FullEval.Result r) throws IOException {
        JsonObject o = new JsonObject();
        o.addProperty("iter", iter);
        o.addProperty("full_val_loss", r.loss());
        o.addProperty("full_val_bits_per_char", r.bitsPerChar());
        o.addProperty("full_val_tokens", r.predictions());
        out.write(GSON.toJson(o));
        out.newLine();
    }

    /**
     * The run reached its {@code target-val-loss} after iteration {@code iter}, confirmed on the whole val split,
     * {@code seconds} after the process started ({@code time_to_target_s}).
     */
    public void target(int iter, double target, double seconds) throws IOException {
        JsonObject o = new JsonObject();
        o.addProperty("iter", iter);
        o.addProperty("target_val_loss", target);
        o.addProperty("time_to_target_s", seconds);
        out.write(GSON.toJson(o));
        out.newLine();
    }

    public void flush() throws IOException {
        out.flush();
    }

    @Override
    public void close() throws IOException {
        out.close();
    }

    /**
     * Every line of {@code file} that is a JSON object with a numeric {@code iter}, in order (see {@link #parse}).
     * No file: no lines.
     */
    public static List<JsonObject> lines(Path file) throws IOException {
        List<JsonObject> lines = new ArrayList<>();
        if (!Files.isRegularFile(file)) return lines;
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            JsonObject o = parse(line);
            if (o != null) lines.add(o);
        }
        return lines;
    }

    /**
     * Whether {@code file} records the whole val split's loss at {@code iter}: the last thing a run writes before its
     * closing lines, so a run whose last checkpoint is at its max-iters but lacks it was stopped before its end.
     */
    public static boolean hasFullEval(Path file, int iter) throws IOException {
        return lines(file).stream().anyMatch(o -> o.has("full_val_loss") && o.get("iter").getAsInt() == iter);
    }

    /**
     * A line as a JSON object with a numeric {@code iter}; null for a torn last line of a killed run, or other text.
     */
    private static JsonObject parse(String line) {
        try {
            JsonObject o = JsonParser.parseString(line).getAsJsonObject();
            JsonElement iter = o.get("iter");
            return iter != null && iter.isJsonPrimitive() && iter.getAsJsonPrimitive().isNumber() ? o : null;
        } catch (RuntimeException e) {
            return null;
        }
    }
}
