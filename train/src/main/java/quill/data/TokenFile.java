package quill.data;

import quill.random.TorchGenerator;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A prepared token file ({@code train.bin}, {@code val.bin}): token ids as little-endian unsigned
 * 16-bit integers, nanoGPT's {@code np.uint16} format, memory-mapped so a corpus of any size costs
 * no heap and the operating system pages in only the windows we read.
 */
public final class TokenFile {
    private final Path path;
    private final CharBuffer tokens; // char is Java's unsigned 16-bit integer
    /** Kept open to see the file's size: reading a page that a truncation removed would crash the JVM. */
    private final FileChannel channel;

    private TokenFile(Path path, CharBuffer tokens, FileChannel channel) {
        this.path = path;
        this.tokens = tokens;
        this.channel = channel;
    }

    /** Maps the file; it must exist and hold a whole number of tokens. */
    public static TokenFile open(Path path) throws IOException {
        if (!Files.isRegularFile(path)) throw new IOException("no token file at " + path);
        FileChannel ch = FileChannel.open(path, StandardOpenOption.READ);
        try {
            long bytes = ch.size();
            if (bytes % 2 != 0) throw new IOException(path
                    + " has an odd number of bytes: it is not a file of 16-bit token ids; prepare the data again");
            if (bytes / 2 > Integer.MAX_VALUE) throw new IOException(path
                    + " holds more than 2^31 tokens, more than Quill reads");
            CharBuffer tokens = ch.map(FileChannel.MapMode.READ_ONLY, 0, bytes).order(ByteOrder.LITTLE_ENDIAN)
                    .asCharBuffer();
            return new TokenFile(path, tokens, ch);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    public Path path() {
        return path;
    }

    /** The number of tokens. */
    public int size() {
        return tokens.limit();
    }

    /** The token id at {@code i}. */
    public int get(int i) {
        return tokens.get(i);
    }

    /**
     * The starts of {@code batchSize} random windows of {@code t + 1} tokens: nanoGPT's {@code get_batch},
     * {@code ix = torch.randint(len(data) - block_size, (batch_size,))}, drawn as PyTorch draws it.
     */
    public int[] sampleStarts(TorchGenerator g, int batchSize, int t) {
        int starts = size() - t; // a window of t + 1 tokens must fit
        if (starts < 1) {
            throw new IllegalArgumentException(path + " holds " + size() + " tokens, too few for windows of block-size "
                    + t + " + 1; lower --block-size below " + size());
        }
        int[] ix = new int[batchSize];
        for (int b = 0; b < batchSize; b++) ix[b] = g.randint(starts);
        return ix;
    }

    /**
     * Fills row b of {@code x} with the window at {@code starts[b]} and the same row of {@code y} with the
     * window shifted by one: {@code y[b][t]} is the token that follows {@code x[b][t]}. Writes into the given
     * arrays so a training step allocates nothing here.
     */
    public void fill(int[] starts, int[][] x, int[][] y) {
        int t = x[0].length;
        checkWhole();
        for (int b = 0; b < x.length; b++) {
            int[] xb = x[b];
            int[] yb = y[b];
            for (int i = 0; i < t; i++) {
                xb[i] = tokens.get(starts[b] + i);
                yb[i] = tokens.get(starts[b] + i + 1);
            }
        }
    }

    /**
     * Fails if the file is now shorter than when it was mapped (another program truncated it or rewrote it in
     * place; a new preparation renames new files into place, which leaves this one whole).
     */
    private void checkWhole() {
        long bytes;
        try {
            bytes = channel.size();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (bytes < 2L * tokens.limit()) {
            String why = path + " became shorter while it was in use (another program truncated or rewrote it in"
                    + " place); prepare the dataset again, then resume from the last checkpoint";
            throw new UncheckedIOException(why, new IOException(why));
        }
    }

    /** A random batch: {@link #sampleStarts}, then {@link #fill}. */
    public void sampleBatch(TorchGenerator g, int[][] x, int[][] y) {
        fill(sampleStarts(g, x.length, x[0].length), x, y);
    }
}
