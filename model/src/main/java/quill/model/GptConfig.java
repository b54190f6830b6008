package quill.model;

/**
 * The shape of a GPT, as nanoGPT's GPTConfig, and its {@link Architecture} switches.
 *
 * @param vocabSize number of distinct tokens (65 characters for Tiny Shakespeare)
 * @param blockSize the longest context the model sees; the position table has this many rows
 * @param nLayer    number of transformer blocks
 * @param nHead     attention heads per block; each works on nEmbd / nHead channels
 * @param nEmbd     width of the residual stream
 * @param dropout   probability of zeroing an activation while training, in [0, 1)
 * @param bias      whether Linear layers and LayerNorms have bias vectors (nanoGPT: True, like GPT-2)
 * @param arch      the architecture switches; null (a checkpoint written before they existed) is nanoGPT's
 */
public record GptConfig(int vocabSize, int blockSize, int nLayer, int nHead, int nEmbd, double dropout, boolean bias,
                        Architecture arch) {

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
        if (arch == null) arch = Architecture.NANOGPT;
        if (arch.pos() == Architecture.PosType.ROPE && (nEmbd / nHead) % 2 != 0) {
            throw new IllegalArgumentException("rope turns pairs of channels: the head size nEmbd / nHead ("
                    + nEmbd / nHead + ") must be even");
        }
    }

    /** nanoGPT's architecture with this shape. */
    public GptConfig(int vocabSize, int blockSize, int nLayer, int nHead, int nEmbd, double dropout, boolean bias) {
        this(vocabSize, blockSize, nLayer, nHead, nEmbd, dropout, bias, Architecture.NANOGPT);
    }

    /** This shape with other architecture switches. */
    public GptConfig with(Architecture arch) {
        return new GptConfig(vocabSize, blockSize, nLayer, nHead, nEmbd, dropout, bias, arch);
    }

    /** Channels per attention head. */
    public int headSize() {
        return nEmbd / nHead;
    }

    /** The MLP's hidden width: {@link Architecture#mlpHidden()}, or nanoGPT's 4 * nEmbd when that is 0. */
    public int mlpHidden() {
        return arch.mlpHidden() == 0 ? 4 * nEmbd : arch.mlpHidden();
    }

    private static void positive(String name, int value) {
        if (value <= 0) throw new IllegalArgumentException(name + " must be positive, got " + value);
    }
}
