package quill.kernels;

/**
 * Working rows that each thread keeps between calls, for code called often on little data: a kernel's blocks, a
 * conversion's buffer. Generation calls the kernels a few dozen times a token, and rows made anew on every call (210 KB
 * a window) had the JVM hand out memory the process had never touched, which made a window a quarter slower (README,
 * Sampling, "No garbage in a window"). Each user holds a Scratch of its own, so no two users ever share rows; a
 * thread's rows grow to the widest asked for and stay.
 */
public final class Scratch {
    private final int count;
    private final ThreadLocal<float[][]> floats = new ThreadLocal<>();
    private final ThreadLocal<double[][]> doubles = new ThreadLocal<>();

    /** {@code count} rows per thread, of each element type asked for. */
    public Scratch(int count) {
        if (count < 1) throw new IllegalArgumentException("Scratch needs at least one row, got " + count);
        this.count = count;
    }

    /** This thread's rows of floats, each at least {@code width} long; their contents are what was left in them. */
    public float[][] floats(int width) {
        float[][] rows = floats.get();
        if (rows == null || rows[0].length < width) floats.set(rows = new float[count][width]);
        return rows;
    }

    /** This thread's rows of doubles, each at least {@code width} long; their contents are what was left in them. */
    public double[][] doubles(int width) {
        double[][] rows = doubles.get();
        if (rows == null || rows[0].length < width) doubles.set(rows = new double[count][width]);
        return rows;
    }
}
