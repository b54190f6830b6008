package quill.interop;

import quill.random.TorchGenerator;
import quill.optim.AdamW;
import quill.model.Architecture;
import quill.model.Gpt;
import quill.model.GptConfig;
import quill.tokenizer.CharTokenizer;
import quill.checkpoint.CheckpointWriter;
import quill.train.TrainConfig;
import quill.train.Trainer;
import quill.train.TrainingState;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/** A small Quill checkpoint whose AdamW has taken a few real steps, for the export and import tests. */
final class TinyCheckpoint {
    static final String TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n";
    static final int ITER = 3;

    private TinyCheckpoint() {
    }

    /** The test batch: ids (2, 8) of TEXT and the targets one character on. */
    static int[][][] batch(CharTokenizer tokenizer) {
        int[] ids = tokenizer.encode(TEXT);
        int[][] x = new int[2][8], y = new int[2][8];
        for (int b = 0; b < 2; b++) {
            for (int t = 0; t < 8; t++) {
                x[b][t] = ids[5 + 11 * b + t];
                y[b][t] = ids[6 + 11 * b + t];
            }
        }
        return new int[][][]{x, y};
    }

    /** Writes {@code file}: 2 layers, 2 heads, 16 embd, block 16, {@code bias} as given, {@code ITER} AdamW steps. */
    static Gpt write(Path file, boolean bias, Architecture arch) throws IOException {
        CharTokenizer tokenizer = CharTokenizer.fromCorpus(TEXT);
        TrainConfig config = TrainConfig.preset(TrainConfig.DEFAULT_PRESET).with(Map.of(
                "out-dir", file.getParent().toString(),
                "n-layer", "2", "n-head", "2", "n-embd", "16", "block-size", "16", "bias", String.valueOf(bias),
                "learning-rate", "1e-2", "seed", "7"));
        GptConfig shape = Trainer.modelConfig(config, tokenizer.vocabSize()).with(arch);
        Gpt model = new Gpt(shape, config.seed());
        AdamW optimizer = new AdamW(model.parameters(), config.beta1(), config.beta2(), Trainer.ADAM_EPS,
                config.weightDecay());
        int[][][] batch = batch(tokenizer);
        for (int i = 0; i < ITER; i++) {
            model.forwardBackward(batch[0], batch[1], 1.0);
            optimizer.step(config.learningRate());
            model.parameters().values().forEach(quill.autograd.Parameter::zeroGrad);
        }
        model.setTraining(false);
        new CheckpointWriter().write(file, config, tokenizer, new TrainingState(ITER, ITER, 3.25,
                new TorchGenerator(7).state(), new int[]{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 5), model, optimizer);
        return model;
    }
}
