package quill.plot;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AttentionPlotTest {

    /**
     * Head h of a causal attention over t tokens: row i spreads evenly over keys 0..i,
     * except head 0 attends to itself.
     */
    private static float[][][] synthetic(int nHead, int t) {
        float[][][] w = new float[nHead][t][t];
        for (int h = 0; h < nHead; h++) {
            for (int i = 0; i < t; i++) {
                for (int j = 0; j <= i; j++) {
                    w[h][i][j] = h == 0 ? (i == j ? 1f : 0f) : 1f / (i + 1);
                }
            }
        }
        return w;
    }

    private static List<String> tokens(String text) {
        return text.codePoints().mapToObj(Character::toString).toList();
    }

    @Test
    void imageHasTheLayoutsSizeAndOneColouredCellPerWeight() {
        List<String> tokens = tokens("To be,\nor not");
        int t = tokens.size();
        float[][][] w = synthetic(4, t);
        BufferedImage image = AttentionPlot.render(w, tokens, "layer 0");

        AttentionPlot.Layout layout = AttentionPlot.Layout.of(4, t);
        assertEquals(layout.width(), image.getWidth());
        assertEquals(layout.height(), image.getHeight());
        assertEquals(2, layout.columns());
        assertEquals(2, layout.rows());

        int half = layout.cell() / 2;
        for (int h = 0; h < 4; h++) {
            for (int i = 0; i < t; i++) {
                for (int j = 0; j < t; j++) {
                    int rgb = image.getRGB(layout.cellX(h, j) + half, layout.cellY(h, i) + half) & 0xFFFFFF;
                    int expected = j > i ? 0xE4E4E4 : AttentionPlot.color(w[h][i][j]).getRGB() & 0xFFFFFF;
                    assertEquals(expected, rgb, "head " + h + " cell (" + i + ", " + j + ")");
                }
            }
        }
    }

    @Test
    void moreTokensGiveSmallerCellsButABiggerImage() {
        AttentionPlot.Layout small = AttentionPlot.Layout.of(1, 8);
        AttentionPlot.Layout large = AttentionPlot.Layout.of(1, 64);
        assertTrue(large.cell() < small.cell());
        assertTrue(large.width() > small.width() && large.height() > small.height());
        assertEquals(3, AttentionPlot.Layout.of(6, 4).columns());
        assertEquals(2, AttentionPlot.Layout.of(6, 4).rows());
    }

    @Test
    void whitespaceIsDrawnVisibly() {
        assertEquals("⏎", AttentionPlot.label("\n"));
        assertEquals("␣", AttentionPlot.label(" "));
        assertEquals("⇥", AttentionPlot.label("\t"));
        assertEquals("\\x07", AttentionPlot.label("\u0007"));
        assertEquals("é", AttentionPlot.label("é"));
        assertEquals("😀", AttentionPlot.label("😀"));
    }

    @Test
    void colourScaleRunsFromDarkPurpleToYellow() {
        assertEquals(new Color(0x440154), AttentionPlot.color(0));
        assertEquals(new Color(0xFDE725), AttentionPlot.color(1));
        assertEquals(AttentionPlot.color(1), AttentionPlot.color(1.5));
        assertEquals(AttentionPlot.color(0), AttentionPlot.color(Double.NaN));
    }

    @Test
    void weightsThatDoNotMatchTheTokensAreAnError() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> AttentionPlot.render(synthetic(2, 3), tokens("abcd"), "x"));
        assertTrue(e.getMessage().contains("4 x 4"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> AttentionPlot.render(new float[0][][], tokens("ab"), "x"));
    }

    @Test
    void writesAReadablePng(@TempDir Path dir) throws IOException {
        BufferedImage image = AttentionPlot.render(synthetic(3, 5), tokens("hello"), "layer 1");
        Path file = dir.resolve("sub/attention.png");
        AttentionPlot.writePng(image, file);
        BufferedImage back = ImageIO.read(file.toFile());
        assertEquals(image.getWidth(), back.getWidth());
        assertEquals(image.getHeight(), back.getHeight());
    }
}
