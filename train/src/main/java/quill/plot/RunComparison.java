package quill.plot;

import quill.checkpoint.AtomicFiles;
import quill.checkpoint.Checkpoint;
import quill.train.MetricsLog;
import quill.train.TrainConfig;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;
import quill.model.Gpt;
import quill.model.GptConfig;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Several training runs side by side ({@code quill compare}): what differs in their settings, how their val
 * loss fell against iterations and against wall-clock seconds, and a row of figures each.
 */
public final class RunComparison {

    /**
     * One run's figures; {@code differences} are the settings in which it differs from the others, {@code seconds}
     * each eval's wall-clock time (its {@code elapsed_s}, or for runs recorded before that existed, the sum of the
     * step times before it: evals and start-up left out).
     */
    public record Run(String name, Path dir, Map<String, String> differences, double bestVal, int bestIter,
                      double lastVal, int lastIter, double medianMs, long parameters, double wallSeconds,
                      List<MetricsLog.Eval> evals, double[] seconds) {
    }

    private final List<Run> runs;

    private RunComparison(List<Run> runs) {
        this.runs = runs;
    }

    public List<Run> runs() {
        return runs;
    }

    /**
     * Reads each run folder's {@code config.properties} and {@code metrics.jsonl}. A folder that is not a run,
     * or a run without evals, is an IOException naming it.
     */
    public static RunComparison load(List<Path> dirs) throws IOException {
        List<TrainConfig> configs = new ArrayList<>();
        List<List<MetricsLog.Step>> steps = new ArrayList<>();
        List<List<MetricsLog.Eval>> evals = new ArrayList<>();
        for (Path dir : dirs) {
            Path config = dir.resolve("config.properties"), metrics = dir.resolve("metrics.jsonl");
            if (!Files.isDirectory(dir)) throw new IOException("no such folder: " + dir);
            if (!Files.isRegularFile(config) || !Files.isRegularFile(metrics)) {
                throw new IOException(dir + " is not a training run: it lacks config.properties or metrics.jsonl");
            }
            configs.add(TrainConfig.parseProperties(Files.readString(config), config.toString()));
            List<MetricsLog.Step> s = new ArrayList<>();
            List<MetricsLog.Eval> e = new ArrayList<>();
            MetricsLog.read(metrics, s, e);
            if (e.isEmpty()) throw new IOException(dir + " has no evals in metrics.jsonl yet: nothing to compare");
            steps.add(s);
            evals.add(e);
        }
        List<Map<String, String>> settings = configs.stream().map(TrainConfig::toMap).toList();
        List<Run> runs = new ArrayList<>();
        for (int i = 0; i < dirs.size(); i++) {
            runs.add(summarise(dirs.get(i), configs.get(i), differences(settings, i), steps.get(i), evals.get(i)));
        }
        return new RunComparison(runs);
    }

    /** The settings of run {@code i} whose values are not the same in every run (the output folder aside). */
    private static Map<String, String> differences(List<Map<String, String>> settings, int i) {
        Map<String, String> d = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : settings.get(i).entrySet()) {
            if (e.getKey().equals("out-dir")) continue;
            for (Map<String, String> other : settings) {
                if (!e.getValue().equals(other.get(e.getKey()))) {
                    d.put(e.getKey(), e.getValue());
                    break;
                }
            }
        }
        return d;
    }

    private static Run summarise(Path dir, TrainConfig c, Map<String, String> differences, List<MetricsLog.Step> steps,
                                 List<MetricsLog.Eval> evals) throws IOException {
        MetricsLog.Eval best = evals.get(0), last = evals.get(evals.size() - 1);
        for (MetricsLog.Eval e : evals) if (e.valLoss() < best.valLoss()) best = e;
        double[] ms = steps.stream().mapToDouble(MetricsLog.Step::ms).sorted().toArray();
        double median = ms.length == 0 ? Double.NaN
                : ms.length % 2 == 1 ? ms[ms.length / 2] : (ms[ms.length / 2 - 1] + ms[ms.length / 2]) / 2;
        double[] seconds = new double[evals.size()];
        for (int i = 0; i < seconds.length; i++) {
            MetricsLog.Eval e = evals.get(i);
            seconds[i] = e.elapsedS() != null ? e.elapsedS()
                    : steps.stream().filter(s -> s.iter() < e.iter()).mapToDouble(MetricsLog.Step::ms).sum() / 1000;
        }
        String name = dir.toAbsolutePath().normalize().getFileName().toString();
        return new Run(name, dir, differences, best.valLoss(), best.iter(), last.valLoss(), last.iter(), median,
                parameters(dir, c), seconds[seconds.length - 1], List.copyOf(evals), seconds);
    }

    /** The model's parameter count, from the run's checkpoint (its vocabulary), or -1 when it has none. */
    private static long parameters(Path dir, TrainConfig c) throws IOException {
        Path ckpt = Files.isRegularFile(Checkpoint.last(dir)) ? Checkpoint.last(dir) : Checkpoint.best(dir);
        if (!Files.isRegularFile(ckpt)) return -1;
        GptConfig shape = Checkpoint.load(ckpt).modelConfig();
        long n = 0;
        for (var p : new Gpt(shape, 0).parameters().values()) n += p.value().length();
        return n;
    }

    /** The legend's name for a run: its folder and its differing settings. */
    public static String label(Run r) {
        StringBuilder sb = new StringBuilder(r.name());
        r.differences().forEach((k, v) -> sb.append(' ').append(k).append('=').append(v));
        return sb.toString();
    }

    /** The table {@code quill compare} prints. */
    public String table() {
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[]{"run", "differs in", "best val (iter)", "last val (iter)", "ms/iter", "params", "wall"});
        for (Run r : runs) {
            rows.add(new String[]{r.name(), r.differences().isEmpty() ? "-" : String.join(" ",
                    r.differences().entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList()),
                    String.format(java.util.Locale.ROOT, "%.4f (%d)", r.bestVal(), r.bestIter()),
                    String.format(java.util.Locale.ROOT, "%.4f (%d)", r.lastVal(), r.lastIter()),
                    String.format(java.util.Locale.ROOT, "%.1f", r.medianMs()),
                    r.parameters() < 0 ? "?" : String.format(java.util.Locale.ROOT, "%.2fM", r.parameters() / 1e6),
                    String.format(java.util.Locale.ROOT, "%.0f s", r.wallSeconds())});
        }
        int[] width = new int[rows.get(0).length];
        for (String[] row : rows) for (int i = 0; i < row.length; i++) width[i] = Math.max(width[i], row[i].length());
        StringBuilder sb = new StringBuilder();
        for (String[] row : rows) {
            for (int i = 0; i < row.length; i++) sb.append(String.format("%-" + (width[i] + 2) + "s", row[i]));
            sb.append(System.lineSeparator());
        }
        return sb.toString().replaceAll(" +(\\R)", "$1");
    }

    /** Val loss against iteration (left) and against wall-clock seconds (right), a line per run, as one PNG. */
    public void draw(Path file) throws IOException {
        draw(file, false);
    }

    /**
     * As {@link #draw(Path)}; with {@code train}, each run's train loss at its evals too, dashed in the run's colour
     * beside its val loss by iteration: where the two part, the model is learning its training text by heart.
     */
    public void draw(Path file, boolean train) throws IOException {
        String title = train ? "val loss (train loss dashed) by iteration" : "val loss by iteration";
        XYChart byIter = chart(title, "iteration");
        XYChart bySeconds = chart("val loss by wall-clock time", "seconds");
        // matplotlib's ten, then again
        Color[] colors = {new Color(31, 119, 180), new Color(255, 127, 14), new Color(44, 160, 44),
                new Color(214, 39, 40), new Color(148, 103, 189), new Color(140, 86, 75), new Color(227, 119, 194),
                new Color(127, 127, 127), new Color(188, 189, 34), new Color(23, 190, 207)};
        TreeSet<String> used = new TreeSet<>();
        for (int i = 0; i < runs.size(); i++) {
            Run r = runs.get(i);
            String label = label(r);
            while (!used.add(label)) label += " ";                                  // XChart needs distinct names
            double[] iters = r.evals().stream().mapToDouble(MetricsLog.Eval::iter).toArray();
            double[] val = r.evals().stream().mapToDouble(MetricsLog.Eval::valLoss).toArray();
            style(byIter.addSeries(label, iters, val), colors[i % colors.length]);
            if (train) {
                XYSeries t = byIter.addSeries(label + " train", iters,
                        r.evals().stream().mapToDouble(MetricsLog.Eval::trainLoss).toArray());
                style(t, colors[i % colors.length]);
                t.setLineStyle(SeriesLines.DASH_DASH);
                t.setMarker(SeriesMarkers.NONE);
            }
            style(bySeconds.addSeries(label, r.seconds(), val), colors[i % colors.length]);
        }
        // one legend under both charts, a line per run: the labels are too long for a chart's own legend
        BufferedImage left = BitmapEncoder.getBufferedImage(byIter), right = BitmapEncoder.getBufferedImage(bySeconds);
        int lineHeight = 22, legendHeight = 16 + lineHeight * runs.size();
        BufferedImage page = new BufferedImage(left.getWidth() + right.getWidth(), left.getHeight() + legendHeight,
                BufferedImage.TYPE_INT_RGB);
        Graphics2D g = page.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, page.getWidth(), page.getHeight());
        g.drawImage(left, 0, 0, null);
        g.drawImage(right, left.getWidth(), 0, null);
        g.setRenderingHint(java.awt.RenderingHints.KEY_TEXT_ANTIALIASING,
                java.awt.RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setFont(new java.awt.Font(java.awt.Font.SANS_SERIF, java.awt.Font.PLAIN, 14));
        for (int i = 0; i < runs.size(); i++) {
            int y = left.getHeight() + 8 + i * lineHeight;
            g.setColor(colors[i % colors.length]);
            g.fillRect(20, y + 6, 30, 4);
            g.setColor(Color.BLACK);
            g.drawString(label(runs.get(i)), 60, y + 13);
        }
        g.dispose();
        AtomicFiles.replace(file, temp -> ImageIO.write(page, "png", temp.toFile()));
    }

    private static XYChart chart(String title, String xAxis) {
        XYChart chart = new XYChartBuilder().width(900).height(640).title(title).xAxisTitle(xAxis)
                .yAxisTitle("val loss (nats per token)").build();
        chart.getStyler().setLegendVisible(false);
        chart.getStyler().setChartBackgroundColor(Color.WHITE);
        chart.getStyler().setPlotGridLinesColor(new Color(230, 230, 230));
        chart.getStyler().setMarkerSize(5);
        chart.getStyler().setXAxisDecimalPattern("#");
        return chart;
    }

    private static void style(XYSeries s, Color c) {
        s.setLineColor(c);
        s.setMarkerColor(c);
        s.setMarker(SeriesMarkers.CIRCLE);
    }
}
