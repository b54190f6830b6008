package quill.plot;

import quill.checkpoint.AtomicFiles;
import quill.train.HealthStats;
import quill.train.MetricsLog;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.AxesChartStyler;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code quill report}: one page of pictures of a run from its {@code metrics.jsonl}, six panels: the loss (per step
 * and at the evals), the learning rate, the gradient norm before clipping with the clipped steps marked, log10 of
 * the update-to-weight ratio of each weight matrix over time with the 1e-3 guide, the activations of every block at
 * the last health step, and the attention entropy of every head then ({@link HealthStats} says what each means).
 * Series are named as nanoGPT's state dict names the layers; a name it does not know (a LoRA adapter's) is drawn
 * like any other. A run recorded before the gradient norm or the health lines existed gets the panels it has data
 * for, and a note in the others.
 */
public final class ReportPlot {
    private static final int W = 760, H = 460;
    private static final Color[] COLORS = {new Color(31, 119, 180), new Color(255, 127, 14), new Color(44, 160, 44),
            new Color(214, 39, 40), new Color(148, 103, 189), new Color(140, 86, 75), new Color(227, 119, 194),
            new Color(127, 127, 127), new Color(188, 189, 34), new Color(23, 190, 207)};   // matplotlib's ten

    /** One run's lines of {@code metrics.jsonl}. */
    record Run(List<JsonObject> steps, List<JsonObject> evals, List<JsonObject> health) {
    }

    private ReportPlot() {
    }

    /** Reads {@code dir}'s {@code metrics.jsonl}; a folder that is not a run, or has no steps, is an IOException. */
    static Run read(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) throw new IOException("no such folder: " + dir);
        Path metrics = dir.resolve("metrics.jsonl");
        if (!Files.isRegularFile(metrics)) {
            throw new IOException(dir + " is not a training run: it has no metrics.jsonl");
        }
        List<JsonObject> steps = new ArrayList<>(), evals = new ArrayList<>(), health = new ArrayList<>();
        List<JsonObject> lines;
        try {
            lines = MetricsLog.lines(metrics);
        } catch (java.nio.charset.MalformedInputException e) {
            throw new IOException(metrics + " is not UTF-8 text: not a metrics file");
        }
        for (JsonObject o : lines) {
            if (o.has("health") && o.get("health").isJsonObject()) health.add(o);
            else if (number(o, "val_loss") && number(o, "train_loss")) evals.add(o);
            else if (number(o, "loss") && number(o, "lr")) steps.add(o);
        }
        if (steps.isEmpty() && evals.isEmpty()) {
            throw new IOException(metrics + " holds no steps or evals: nothing to draw");
        }
        return new Run(steps, evals, health);
    }

    /** Draws {@code dir}'s report into {@code out} (a PNG), under {@code title}. */
    public static void draw(Path dir, Path out, String title) throws IOException {
        Run run = read(dir);
        List<BufferedImage> panels = List.of(loss(run), learningRate(run), gradNorm(run), updateRatio(run),
                activations(run), entropy(run));
        int top = 40;
        BufferedImage page = new BufferedImage(2 * W, top + 3 * H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = page.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, page.getWidth(), page.getHeight());
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 18));
        g.drawString(title, 20, 27);
        for (int i = 0; i < panels.size(); i++) g.drawImage(panels.get(i), (i % 2) * W, top + (i / 2) * H, null);
        g.dispose();
        AtomicFiles.replace(out, temp -> ImageIO.write(page, "png", temp.toFile()));
    }

    private static BufferedImage loss(Run run) {
        XYChart c = xy("loss", "cross-entropy loss (nats per token)");
        if (!run.steps().isEmpty()) {
            XYSeries s = c.addSeries("train loss per step", column(run.steps(), "iter"), column(run.steps(), "loss"));
            s.setMarker(SeriesMarkers.NONE);
            s.setLineColor(new Color(31, 119, 180, 70));
            s.setLineStyle(new BasicStroke(1f));
        }
        if (!run.evals().isEmpty()) {
            double[] x = column(run.evals(), "iter");
            line(c.addSeries("train loss (eval)", x, column(run.evals(), "train_loss")), COLORS[0],
                    SeriesMarkers.CIRCLE);
            line(c.addSeries("val loss (eval)", x, column(run.evals(), "val_loss")), COLORS[1],
                    SeriesMarkers.DIAMOND);
        }
        return BitmapEncoder.getBufferedImage(c);
    }

    private static BufferedImage learningRate(Run run) {
        if (run.steps().isEmpty()) return note("learning rate", "no step lines in metrics.jsonl");
        double[] lr = column(run.steps(), "lr");
        // in units of a power of ten (XChart labels an axis of 0.0001s with a dozen digits)
        int exponent = (int) Math.floor(Math.log10(java.util.Arrays.stream(lr).max().orElse(1)));
        double unit = Math.pow(10, exponent);
        XYChart c = xy("learning rate", "learning rate (x 1e" + exponent + ")");
        c.getStyler().setLegendVisible(false);
        line(c.addSeries("lr", column(run.steps(), "iter"), java.util.Arrays.stream(lr).map(v -> v / unit).toArray()),
                COLORS[2], SeriesMarkers.NONE);
        return BitmapEncoder.getBufferedImage(c);
    }

    private static BufferedImage gradNorm(Run run) {
        List<JsonObject> steps = run.steps().stream().filter(o -> number(o, "grad_norm")).toList();
        String title = "gradient norm before clipping";
        if (steps.isEmpty()) return note(title, "not recorded in this run (it predates grad_norm)");
        XYChart c = xy(title, "global L2 norm");
        XYSeries norm = c.addSeries("grad norm", column(steps, "iter"), column(steps, "grad_norm"));
        line(norm, COLORS[0], SeriesMarkers.NONE);
        List<JsonObject> clipped = steps.stream()
                .filter(o -> o.has("clipped") && o.get("clipped").isJsonPrimitive() && o.get("clipped").getAsBoolean())
                .toList();
        if (!clipped.isEmpty()) {
            XYSeries s = c.addSeries("clipped (" + clipped.size() + " of " + steps.size() + " steps)",
                    column(clipped, "iter"), column(clipped, "grad_norm"));
            s.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
            s.setMarker(SeriesMarkers.CIRCLE);
            s.setMarkerColor(COLORS[3]);
        }
        return BitmapEncoder.getBufferedImage(c);
    }

    /** log10 of each weight matrix's update-to-weight ratio over the health steps (the norms left out). */
    private static BufferedImage updateRatio(Run run) {
        String title = "log10 update / weight per step (guide: -3)";
        Map<String, List<double[]>> series = new LinkedHashMap<>();
        for (JsonObject line : run.health()) {
            JsonObject params = object(line.getAsJsonObject("health"), "params");
            if (params == null) continue;
            for (String group : params.keySet()) {
                if (group.matches(".*\\bln_\\w*$")) continue;
                JsonElement p = params.get(group);
                if (p.isJsonObject() && number(p.getAsJsonObject(), "log10_update_ratio")) {
                    double ratio = p.getAsJsonObject().get("log10_update_ratio").getAsDouble();
                    series.computeIfAbsent(group, k -> new ArrayList<>())
                            .add(new double[]{line.get("iter").getAsDouble(), ratio});
                }
            }
        }
        if (series.isEmpty()) {
            return note(title, "no health lines in metrics.jsonl (health-interval 0, or an older run)");
        }
        XYChart c = xy(title, "log10(rms(update) / rms(weight))");
        c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
        c.getStyler().setLegendFont(new Font(Font.SANS_SERIF, Font.PLAIN, 10));
        double first = Double.MAX_VALUE, last = -Double.MAX_VALUE;
        int i = 0;
        for (Map.Entry<String, List<double[]>> e : series.entrySet()) {
            double[] x = e.getValue().stream().mapToDouble(p -> p[0]).toArray();
            double[] y = e.getValue().stream().mapToDouble(p -> p[1]).toArray();
            first = Math.min(first, x[0]);
            last = Math.max(last, x[x.length - 1]);
            XYSeries s = c.addSeries(e.getKey(), x, y);
            line(s, COLORS[i % COLORS.length], SeriesMarkers.NONE);
            if (i / COLORS.length % 2 == 1) s.setLineStyle(dashed(1.5f));       // the second ten: dashed
            i++;
        }
        XYSeries guide = c.addSeries("1e-3 guide", new double[]{first, Math.max(last, first + 1)},
                new double[]{-3, -3});
        line(guide, Color.BLACK, SeriesMarkers.NONE);
        guide.setLineStyle(dashed(1f));
        return BitmapEncoder.getBufferedImage(c);
    }

    /** The last health step's activation statistics per block: mean, standard deviation, share dead or saturated. */
    private static BufferedImage activations(Run run) {
        JsonObject acts = null;
        int iter = -1;
        for (JsonObject line : run.health()) {
            JsonObject a = object(line.getAsJsonObject("health"), "activations");
            if (a != null && !a.keySet().isEmpty()) {
                acts = a;
                iter = line.get("iter").getAsInt();
            }
        }
        String title = "activations at iteration " + iter;
        if (acts == null) return note("activations", "no health lines in metrics.jsonl");
        List<String> layers = new ArrayList<>();
        List<Double> mean = new ArrayList<>(), std = new ArrayList<>(), inactive = new ArrayList<>();
        for (String layer : acts.keySet()) {
            if (!acts.get(layer).isJsonObject()) continue;
            JsonObject a = acts.getAsJsonObject(layer);
            String kind = a.has("kind") ? a.get("kind").getAsString() : "";
            layers.add(layer + (kind.isEmpty() || kind.equals("attention") ? "" : " (" + kind + ")"));
            mean.add(value(a, "mean"));
            std.add(value(a, "std"));
            inactive.add(number(a, "dead") ? value(a, "dead") : value(a, "saturated"));
        }
        CategoryChart c = category(title, "value");
        c.addSeries("mean", layers, mean);
        c.addSeries("std", layers, std);
        c.addSeries("share dead (MLP) / saturated (attn)", layers, inactive);
        return BitmapEncoder.getBufferedImage(c);
    }

    /** The last health step's mean attention entropy per layer and head, in nats. */
    private static BufferedImage entropy(Run run) {
        JsonObject ent = null;
        int iter = -1;
        for (JsonObject line : run.health()) {
            JsonObject e = object(line.getAsJsonObject("health"), "attention_entropy");
            if (e != null && !e.keySet().isEmpty()) {
                ent = e;
                iter = line.get("iter").getAsInt();
            }
        }
        if (ent == null) return note("attention entropy", "no health lines in metrics.jsonl");
        List<String> layers = new ArrayList<>();
        int heads = 0;
        for (String layer : ent.keySet()) {
            if (!ent.get(layer).isJsonArray()) continue;
            layers.add(layer);
            heads = Math.max(heads, ent.getAsJsonArray(layer).size());
        }
        CategoryChart c = category("attention entropy per head at iteration " + iter, "mean entropy (nats)");
        for (int h = 0; h < heads; h++) {
            List<Double> values = new ArrayList<>();
            for (String layer : layers) {
                var a = ent.getAsJsonArray(layer);
                values.add(h < a.size() && a.get(h).isJsonPrimitive() ? a.get(h).getAsDouble() : 0.0);
            }
            c.addSeries("head " + h, layers, values);
        }
        return BitmapEncoder.getBufferedImage(c);
    }

    private static XYChart xy(String title, String yAxis) {
        XYChart c = new XYChartBuilder().width(W).height(H).title(title).xAxisTitle("iteration").yAxisTitle(yAxis)
                .build();
        style(c);
        c.getStyler().setXAxisDecimalPattern("#");
        c.getStyler().setXAxisTickMarkSpacingHint(90);
        c.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        return c;
    }

    private static CategoryChart category(String title, String yAxis) {
        CategoryChart c = new CategoryChartBuilder().width(W).height(H).title(title).yAxisTitle(yAxis).build();
        style(c);
        c.getStyler().setXAxisLabelRotation(20);
        c.getStyler().setAxisTickLabelsFont(new Font(Font.SANS_SERIF, Font.PLAIN, 10));
        c.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        c.getStyler().setSeriesColors(COLORS);
        return c;
    }

    private static void style(Chart<? extends AxesChartStyler, ?> c) {
        c.getStyler().setChartBackgroundColor(Color.WHITE);
        c.getStyler().setPlotGridLinesColor(new Color(230, 230, 230));
        c.getStyler().setMarkerSize(5);
    }

    /** A panel without data: its title and why. */
    private static BufferedImage note(String title, String why) {
        BufferedImage img = new BufferedImage(W, H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, W, H);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
        g.drawString(title, 20, 30);
        g.setColor(Color.GRAY);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 14));
        g.drawString(why, 20, H / 2);
        g.dispose();
        return img;
    }

    private static void line(XYSeries s, Color c, org.knowm.xchart.style.markers.Marker marker) {
        s.setLineColor(c);
        s.setMarkerColor(c);
        s.setMarker(marker);
    }

    private static BasicStroke dashed(float width) {
        return new BasicStroke(width, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[]{6f, 4f}, 0f);
    }

    private static double[] column(List<JsonObject> rows, String key) {
        return rows.stream().mapToDouble(o -> o.get(key).getAsDouble()).toArray();
    }

    private static boolean number(JsonObject o, String key) {
        JsonElement e = o.get(key);
        return e != null && e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber();
    }

    private static double value(JsonObject o, String key) {
        return number(o, key) ? o.get(key).getAsDouble() : 0.0;
    }

    private static JsonObject object(JsonObject o, String key) {
        return o != null && o.has(key) && o.get(key).isJsonObject() ? o.getAsJsonObject(key) : null;
    }
}
