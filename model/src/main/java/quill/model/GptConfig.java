package quill.model;

/**
 * The shape of a GPT, as nanoGPT's GPTConfig.
 *
 * @param vocabSize number of distinct tokens (65 characters for Tiny Shakespeare)
 * @param blockSize the longest context the model sees; the position table has this many rows
 * @param nLayer    number of transformer blocks
 * @param nHead     attention heads per block; each works on nEmbd / nHead channels
 * @param nEmbd     width of the residual stream
 * @param dropout   probability of zeroing an activation while training, in [0, 1)
 * @param bias      whether Linear layers and LayerNorms have bias vectors (nanoGPT: True, like GPT-2)
 */
public record GptConfig(int vocabSize, int blockSize, int nLayer, int nHead, int nEmbd, double dropout, boolean bias) {

    public GptConfig {
        positive("vocabSize", vocabSize);
        positive("blockSize", blockSize);
        positive("nLayer", nLayer);
        positive("nHead", nHead);
        positive("nEmbd", nEmbd);
        if (nEmbd % nHead != 0) {
            throw new IllegalArgumentException("nEmbd (" + nEmbd + ") must be divisible by nHead (" + nHead
                    + "): each head gets nEmbd / nHead channels");
        }
        if (!(dropout >= 0 && dropout < 1)) {
            throw new IllegalArgumentException("dropout must be in [0, 1), got " + dropout);
        }
    }

    /** Channels per attention head. */
    public int headSize() {
        return nEmbd / nHead;
    }

    private static void positive(String name, int value) {
        if (value <= 0) throw new IllegalArgumentException(name + " must be positive, got " + value);
    }
}
