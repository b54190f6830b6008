package quill.plot;

import quill.checkpoint.AtomicFiles;

import org.nd4j.linalg.api.ndarray.INDArray;
import quill.model.Gpt;
import quill.tokenizer.TokenText;
import quill.tokenizer.Tokenizer;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.GraphicsEnvironment;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Draws the attention weights of one layer as a grid of heatmaps, one per head: row i is the query
 * position, column j the key position, and cell (i, j) how much token i attends to token j. Both
 * axes are labelled with the prompt's tokens: characters, or with BPE pieces such as {@code ␣the} (a newline
 * shows as ⏎, a space as ␣). Weights are
 * probabilities, so every head shares one colour scale from 0 to 1; the cells above the diagonal,
 * which the causal mask hides from each query, are grey.
 *
 * <p>Plain Java2D: a heatmap with per-cell tick labels is a few rectangles and strings, simpler to
 * lay out exactly here than through a charting library.
 */
public final class AttentionPlot {

    private static final Color BACKGROUND = Color.WHITE;
    private static final Color INK = new Color(0x22, 0x22, 0x22);
    private static final Color MASKED = new Color(0xE4, 0xE4, 0xE4);
    /** Viridis, sampled at 0, 1/8, ..., 1: perceptually even and readable in grey print. */
    private static final int[] VIRIDIS = {
            0x440154, 0x46327E, 0x365C8D, 0x277F8E, 0x1FA187, 0x4AC16D, 0x9FDA3A, 0xFDE725, 0xFDE725};

    private static final int MARGIN = 16;
    private static final int TITLE_HEIGHT = 34;
    private static final int HEAD_TITLE_HEIGHT = 22;
    private static final int GAP = 28;
    private static final int SCALE_WIDTH = 18;
    private static final int SCALE_LABEL_WIDTH = 44;
    /** Axis labels longer than this many glyphs are cut with an ellipsis. */
    public static final int MAX_LABEL_CHARS = 10;

    private AttentionPlot() {
    }

    /**
     * Where everything goes, for {@code nHead} heads over {@code t} tokens: heads fill a grid of
     * {@code columns} panels a row; each panel is a square of {@code t * cell} pixels with room for
     * the key labels below it and the query labels to its left.
     */
    public record Layout(int nHead, int t, int cell, int columns, int rows, int labelSpace) {

        public static Layout of(int nHead, int t) {
            return of(nHead, t, 1);
        }

        /**
         * As above, with room for labels of up to {@code labelChars} glyphs (BPE tokens are several
         * characters; beyond {@link #MAX_LABEL_CHARS} they are cut with an ellipsis).
         */
        public static Layout of(int nHead, int t, int labelChars) {
            if (nHead < 1 || t < 1) {
                throw new IllegalArgumentException("an attention plot needs at least one head and one token");
            }
            int cell = t <= 16 ? 28 : t <= 32 ? 20 : 14;
            int columns = (int) Math.ceil(Math.sqrt(nHead));
            int rows = (nHead + columns - 1) / columns;
            int glyphs = Math.min(Math.max(labelChars, 1), MAX_LABEL_CHARS);
            int labelSpace = glyphs == 1 ? cell + 18   // one glyph, plus the axis name
                    : glyphs * labelFontSize(cell) * 62 / 100 + 24; // a monospaced glyph is about 0.6 em wide
            return new Layout(nHead, t, cell, columns, rows, labelSpace);
        }

        int panelWidth() {
            return labelSpace + t * cell;
        }

        int panelHeight() {
            return HEAD_TITLE_HEIGHT + t * cell + labelSpace;
        }

        public int width() {
            return MARGIN + columns * panelWidth() + (columns - 1) * GAP + GAP + SCALE_WIDTH + SCALE_LABEL_WIDTH
                    + MARGIN;
        }

        public int height() {
            return MARGIN + TITLE_HEIGHT + rows * panelHeight() + (rows - 1) * GAP + MARGIN;
        }

        /** The top-left pixel of cell (query i, key j) of a head. */
        public int cellX(int head, int j) {
            return MARGIN + (head % columns) * (panelWidth() + GAP) + labelSpace + j * cell;
        }

        public int cellY(int head, int i) {
            return MARGIN + TITLE_HEIGHT + (head / columns) * (panelHeight() + GAP) + HEAD_TITLE_HEIGHT + i * cell;
        }
    }

    /**
     * Renders {@code weights[head][query][key]} for the given tokens (one string per position,
     * usually one character each).
     */
    public static BufferedImage render(float[][][] weights, List<String> tokens, String title) {
        int nHead = weights.length;
        int t = tokens.size();
        int labelChars = tokens.stream().map(AttentionPlot::label)
                .mapToInt(s -> s.codePointCount(0, s.length())).max().orElse(1);
        Layout layout = Layout.of(nHead, t, labelChars);
        for (float[][] head : weights) {
            if (head.length != t || Arrays.stream(head).anyMatch(row -> row.length != t)) {
                throw new IllegalArgumentException("each head's weights must be " + t + " x " + t
                        + " for " + t + " tokens");
            }
        }

        BufferedImage image = new BufferedImage(layout.width(), layout.height(), BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(BACKGROUND);
            g.fillRect(0, 0, layout.width(), layout.height());

            g.setColor(INK);
            g.setFont(sansFont(Font.BOLD, 16));
            g.drawString(title, MARGIN, MARGIN + 18);

            Font labelFont = monoFont(labelFontSize(layout.cell()));
            for (int h = 0; h < nHead; h++) {
                drawHead(g, layout, h, weights[h], tokens, labelFont);
            }
            drawScale(g, layout);
        } finally {
            g.dispose();
        }
        return image;
    }

    /**
     * Runs {@code model} on {@code prompt} and draws the attention of {@code layer}. The prompt must
     * fit in the block (crop it first) and use only the tokenizer's characters. Leaves the model in
     * eval mode (no dropout), the mode the pictures are meant for.
     */
    public static BufferedImage of(Gpt model, Tokenizer tokenizer, String prompt, int layer, String title) {
        return of(model, tokenizer, tokenizer.encode(prompt), layer, title);
    }

    /**
     * As above, for the prompt's ids; each axis label is one token's text ({@link TokenText}: a piece
     * of a character shows as its bytes).
     */
    public static BufferedImage of(Gpt model, Tokenizer tokenizer, int[] ids, int layer, String title) {
        int nLayer = model.config().nLayer();
        if (layer < 0 || layer >= nLayer) {
            throw new IllegalArgumentException("layer " + layer + " does not exist: the model has " + nLayer
                    + " layer" + (nLayer == 1 ? " (0)" : "s (0 to " + (nLayer - 1) + ")"));
        }
        if (ids.length == 0) {
            throw new IllegalArgumentException("the prompt is empty: attention needs at least one token");
        }
        if (ids.length > model.config().blockSize()) {
            throw new IllegalArgumentException("the prompt has " + ids.length + " tokens, more than the block size "
                    + model.config().blockSize() + "; crop it to its last " + model.config().blockSize());
        }
        // One forward pass in eval mode; the targets only feed the loss, which we don't need.
        model.setTraining(false);
        model.loss(new int[][]{ids}, new int[1][ids.length]);
        List<String> tokens = Arrays.stream(ids).mapToObj(id -> TokenText.of(tokenizer.bytes(id))).toList();
        return render(model.attention(layer), tokens, title);
    }

    /** One image for the attention of one batch row, {@code att} shaped (B, nHead, T, T) or (nHead, T, T). */
    public static BufferedImage render(INDArray att, List<String> tokens, String title) {
        return render(weights(att), tokens, title);
    }

    /** The weights of batch row 0 as {@code [head][query][key]}. */
    public static float[][][] weights(INDArray att) {
        INDArray heads = att.rank() == 4 ? att.slice(0) : att;
        if (heads.rank() != 3) {
            throw new IllegalArgumentException("attention weights must be (B, nHead, T, T) or (nHead, T, T), got "
                    + Arrays.toString(att.shape()));
        }
        float[][][] w = new float[(int) heads.size(0)][][];
        for (int h = 0; h < w.length; h++) {
            w[h] = heads.slice(h).toFloatMatrix();
        }
        return w;
    }

    /** Writes {@code image} as a PNG, atomically, creating the folder when needed. */
    public static void writePng(BufferedImage image, Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            try {
                Files.createDirectories(parent);
            } catch (IOException e) {
                throw new IOException("cannot create the folder " + parent + ": " + AtomicFiles.reason(e), e);
            }
        }
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        ImageIO.write(image, "png", png);
        AtomicFiles.write(file, png.toByteArray());
    }

    /**
     * A token as it is drawn on an axis: whitespace and control characters become visible symbols,
     * so that "to be\n" reads as t o ␣ b e ⏎.
     */
    public static String label(String token) {
        StringBuilder sb = new StringBuilder();
        token.codePoints().forEach(c -> {
            switch (c) {
                case '\n' -> sb.append('⏎');
                case ' ' -> sb.append('␣');
                case '\t' -> sb.append('⇥');
                case '\r' -> sb.append('␍');
                default -> {
                    if (Character.isISOControl(c)) {
                        sb.append(String.format("\\x%02x", c));
                    } else {
                        sb.appendCodePoint(c);
                    }
                }
            }
        });
        return sb.toString();
    }

    /** The colour for a weight in [0, 1] (clamped). */
    public static Color color(double w) {
        double x = Double.isNaN(w) ? 0 : Math.max(0, Math.min(1, w)) * (VIRIDIS.length - 2);
        int k = (int) Math.floor(x);
        double f = x - k;
        int a = VIRIDIS[k];
        int b = VIRIDIS[k + 1];
        return new Color(mix(a >> 16, b >> 16, f), mix(a >> 8, b >> 8, f), mix(a, b, f));
    }

    private static int mix(int a, int b, double f) {
        return (int) Math.round((a & 0xFF) * (1 - f) + (b & 0xFF) * f);
    }

    private static void drawHead(Graphics2D g, Layout layout, int h, float[][] w, List<String> tokens, Font labelFont) {
        int t = layout.t();
        int cell = layout.cell();
        int x0 = layout.cellX(h, 0);
        int y0 = layout.cellY(h, 0);

        g.setColor(INK);
        g.setFont(sansFont(Font.BOLD, 13));
        g.drawString("head " + h, x0, y0 - 7);

        for (int i = 0; i < t; i++) {
            for (int j = 0; j < t; j++) {
                g.setColor(j > i ? MASKED : color(w[i][j]));
                g.fillRect(x0 + j * cell, y0 + i * cell, cell, cell);
            }
        }
        g.setColor(INK);
        g.setStroke(new BasicStroke(1));
        g.drawRect(x0, y0, t * cell, t * cell);

        // Query labels on the left of each row, key labels under each column.
        g.setFont(labelFont);
        FontMetrics fm = g.getFontMetrics();
        int baseline = (cell + fm.getAscent() - fm.getDescent()) / 2;
        for (int i = 0; i < t; i++) {
            String s = fit(label(tokens.get(i)), fm, layout.labelSpace() - 20);
            g.drawString(s, x0 - 4 - fm.stringWidth(s), y0 + i * cell + baseline);
        }
        int yKeys = y0 + t * cell + 3;
        for (int j = 0; j < t; j++) {
            String s = fit(label(tokens.get(j)), fm, layout.labelSpace() - 20);
            if (fm.stringWidth(s) <= cell) {
                g.drawString(s, x0 + j * cell + (cell - fm.stringWidth(s)) / 2, yKeys + fm.getAscent());
            } else { // a longer token reads top to bottom under its column
                AffineTransform saved = g.getTransform();
                g.translate(x0 + j * cell + cell / 2.0, yKeys);
                g.rotate(Math.PI / 2);
                g.drawString(s, 0, (fm.getAscent() - fm.getDescent()) / 2);
                g.setTransform(saved);
            }
        }

        g.setFont(sansFont(Font.PLAIN, 11));
        FontMetrics small = g.getFontMetrics();
        g.drawString("key →", x0 + t * cell - small.stringWidth("key →"), yKeys + layout.labelSpace() - 6);
        // Read top to bottom, beside the query labels.
        AffineTransform saved = g.getTransform();
        g.rotate(Math.PI / 2);
        g.drawString("query →", y0, -(x0 - layout.labelSpace() + 2));
        g.setTransform(saved);
    }

    private static void drawScale(Graphics2D g, Layout layout) {
        int x = layout.width() - MARGIN - SCALE_LABEL_WIDTH - SCALE_WIDTH;
        int y = layout.cellY(0, 0);
        int height = Math.min(layout.t() * layout.cell(), 240);
        for (int k = 0; k < height; k++) {
            g.setColor(color(1.0 - (double) k / (height - 1)));
            g.fillRect(x, y + k, SCALE_WIDTH, 1);
        }
        g.setColor(INK);
        g.drawRect(x, y, SCALE_WIDTH, height);
        g.setFont(sansFont(Font.PLAIN, 11));
        FontMetrics fm = g.getFontMetrics();
        for (double v = 0; v <= 1.0001; v += 0.25) {
            int ty = y + (int) Math.round((1 - v) * height);
            g.drawLine(x + SCALE_WIDTH, ty, x + SCALE_WIDTH + 3, ty);
            g.drawString(String.format("%.2f", v), x + SCALE_WIDTH + 6, ty + fm.getAscent() / 2 - 1);
        }
        g.setColor(MASKED);
        g.fillRect(x, y + height + 12, SCALE_WIDTH, SCALE_WIDTH);
        g.setColor(INK);
        g.drawRect(x, y + height + 12, SCALE_WIDTH, SCALE_WIDTH);
        g.drawString("masked", x - 4, y + height + 12 + SCALE_WIDTH + fm.getAscent() + 3);
    }

    private static String fit(String s, FontMetrics fm, int width) {
        if (fm.stringWidth(s) <= width) {
            return s;
        }
        while (s.length() > 1 && fm.stringWidth(s + "…") > width) {
            s = s.substring(0, s.length() - 1);
        }
        return s + "…";
    }

    private static int labelFontSize(int cell) {
        return Math.max(9, cell * 7 / 10);
    }

    private static Font monoFont(int size) {
        return font("DejaVu Sans Mono", Font.MONOSPACED, Font.PLAIN, size);
    }

    private static Font sansFont(int style, int size) {
        return font("DejaVu Sans", Font.SANS_SERIF, style, size);
    }

    /** The preferred family when installed (it has ⏎ and ␣), else Java's logical font. */
    private static Font font(String family, String fallback, int style, int size) {
        boolean installed = Arrays.asList(GraphicsEnvironment.getLocalGraphicsEnvironment()
                .getAvailableFontFamilyNames()).contains(family);
        return new Font(installed ? family : fallback, style, size);
    }
}
