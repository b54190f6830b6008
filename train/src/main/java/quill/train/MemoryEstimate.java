package quill.train;

import quill.model.GptConfig;

import java.lang.management.ManagementFactory;
import java.util.Locale;

/**
 * A lower bound on the memory a training run needs, checked before anything is allocated: a model far larger than
 * the machine would otherwise end in a native allocation failure that aborts the JVM. Counted: the weights, the
 * gradients of every worker, AdamW's two moments (4 bytes each per parameter), and each layer's attention
 * probabilities and a few (B, T, C) activations kept for the backward pass. The true figure is higher.
 */
final class MemoryEstimate {
    private MemoryEstimate() {
    }

    /** Parameters of a GPT of this shape (weights tied, biases counted when present), as nanoGPT counts them. */
    static double parameters(GptConfig g) {
        double c = g.nEmbd();
        double perLayer = 12 * c * c + (g.bias() ? 13 * c : 4 * c);
        return (double) g.vocabSize() * c + (double) g.blockSize() * c + g.nLayer() * perLayer + 2 * c;
    }

    /** Bytes that training this shape with these batch and worker counts needs at the least. */
    static double trainingBytes(GptConfig g, int batchSize, int workers) {
        double b = batchSize, t = g.blockSize(), c = g.nEmbd();
        double perLayerActivations = b * t * c * 8 + b * g.nHead() * t * t * 2; // (B, T, C) ones; (B, nh, T, T) twice
        return 4 * (parameters(g) * (3 + workers) + g.nLayer() * perLayerActivations);
    }

    /** Fails, naming the settings to lower, when the run cannot fit in this machine's memory. */
    static void check(GptConfig g, int batchSize, int workers) {
        double need = trainingBytes(g, batchSize, workers);
        double have = physicalBytes();
        if (need > have) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "this model needs at least %.1f GB to train"
                    + " (%.3g parameters: weights, gradients, AdamW's moments, activations), more than this machine's"
                    + " %.1f GB of memory; choose a smaller --n-embd, --n-layer, --block-size or --batch-size",
                    need / 1e9, parameters(g), have / 1e9));
        }
    }

    private static double physicalBytes() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getTotalMemorySize();
        }
        return Double.POSITIVE_INFINITY;
    }
}
