package quill.plot;

import quill.checkpoint.AtomicFiles;
import quill.train.MetricsLog;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code loss.png}: the train and val loss of each eval against the iteration, over the faint
 * per-step training loss. Drawn with XChart; written to a temporary file and renamed, so an image
 * viewer watching the file never shows half a picture.
 */
public final class LossPlot {

    private LossPlot() {
    }

    public static void draw(Path file, List<MetricsLog.Step> steps, List<MetricsLog.Eval> evals, String title)
            throws IOException {
        XYChart chart = new XYChartBuilder().width(900).height(540).title(title)
                .xAxisTitle("iteration").yAxisTitle("cross-entropy loss (nats per token)").build();
        chart.getStyler().setMarkerSize(6);
        chart.getStyler().setXAxisDecimalPattern("#");
        chart.getStyler().setXAxisTickMarkSpacingHint(90);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        chart.getStyler().setChartBackgroundColor(Color.WHITE);
        chart.getStyler().setPlotGridLinesColor(new Color(230, 230, 230));
        if (!steps.isEmpty()) {
            double[] x = new double[steps.size()];
            double[] y = new double[steps.size()];
            for (int i = 0; i < x.length; i++) {
                x[i] = steps.get(i).iter();
                y[i] = steps.get(i).loss();
            }
            XYSeries s = chart.addSeries("train loss per step", x, y);
            s.setMarker(SeriesMarkers.NONE);
            s.setLineColor(new Color(31, 119, 180, 60));
            s.setLineStyle(new BasicStroke(1f));
        }
        if (!evals.isEmpty()) {
            double[] x = new double[evals.size()];
            double[] train = new double[evals.size()];
            double[] val = new double[evals.size()];
            for (int i = 0; i < x.length; i++) {
                x[i] = evals.get(i).iter();
                train[i] = evals.get(i).trainLoss();
                val[i] = evals.get(i).valLoss();
            }
            XYSeries t = chart.addSeries("train loss (eval)", x, train);
            t.setLineColor(new Color(31, 119, 180));
            t.setMarkerColor(new Color(31, 119, 180));
            t.setMarker(SeriesMarkers.CIRCLE);
            XYSeries v = chart.addSeries("val loss (eval)", x, val);
            v.setLineColor(new Color(255, 127, 14));
            v.setMarkerColor(new Color(255, 127, 14));
            v.setMarker(SeriesMarkers.DIAMOND);
        }
        if (steps.isEmpty() && evals.isEmpty()) return;
        AtomicFiles.replace(file, temp -> ImageIO.write(BitmapEncoder.getBufferedImage(chart), "png", temp.toFile()));
    }
}
