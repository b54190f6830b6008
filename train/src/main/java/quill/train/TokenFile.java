package quill.train;

import quill.autograd.Rng;

import java.io.IOException;
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

    private TokenFile(Path path, CharBuffer tokens) {
        this.path = path;
        this.tokens = tokens;
    }

    /** Maps the file; it must exist and hold a whole number of tokens. */
    public static TokenFile open(Path path) throws IOException {
        if (!Files.isRegularFile(path)) throw new IOException("no token file at " + path);
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long bytes = ch.size();
            if (bytes % 2 != 0) throw new IOException(path + " has an odd number of bytes: it is not a file of 16-bit token ids; prepare the data again");
            if (bytes / 2 > Integer.MAX_VALUE) throw new IOException(path + " holds more than 2^31 tokens, more than Quill reads");
            CharBuffer tokens = ch.map(FileChannel.MapMode.READ_ONLY, 0, bytes).order(ByteOrder.LITTLE_ENDIAN).asCharBuffer();
            return new TokenFile(path, tokens);
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
     * Fills each row of {@code x} with a random window of the file and the same row of {@code y}
     * with the window shifted by one: {@code y[b][t]} is the token that follows {@code x[b][t]}.
     * nanoGPT's {@code get_batch}: {@code ix = torch.randint(len(data) - block_size, (batch_size,))}.
     * Writes into the given arrays so a training step allocates nothing here.
     */
    public void sampleBatch(Rng rng, int[][] x, int[][] y) {
        int t = x[0].length;
        int starts = size() - t; // a window of t + 1 tokens must fit
        if (starts < 1) {
            throw new IllegalArgumentException(path + " holds " + size() + " tokens, too few for windows of block-size "
                    + t + " + 1; lower --block-size below " + size());
        }
        for (int b = 0; b < x.length; b++) {
            int start = (int) (rng.nextDouble() * starts); // uniform in [0, starts)
            int[] xb = x[b];
            int[] yb = y[b];
            for (int i = 0; i < t; i++) {
                xb[i] = tokens.get(start + i);
                yb[i] = tokens.get(start + i + 1);
            }
        }
    }
}
