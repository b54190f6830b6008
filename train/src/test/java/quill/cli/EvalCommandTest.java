package quill.cli;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.factory.Nd4j;
import quill.autograd.Parameter;
import quill.optim.AdamW;
import quill.model.Gpt;
import quill.model.GptConfig;
import quill.tokenizer.CharTokenizer;
import quill.checkpoint.Checkpoint;
import quill.checkpoint.CheckpointWriter;
import quill.train.TrainConfig;
import quill.train.TrainingState;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code quill eval} and {@code quill quantize} on a small prepared dataset and a checkpoint written by the test. */
class EvalCommandTest {
    private static final String TEXT =
            "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n";

    @TempDir
    Path tmp;
    private Path run;
    private Path data;

    @BeforeEach
    void prepareAndWriteCheckpoint() throws IOException {
        data = tmp.resolve("data");
        Path input = Files.writeString(tmp.resolve("input.txt"), TEXT.repeat(30));
        CliRun prepared = CliRun.quill("prepare", "tiny", "--input", input.toString(), "--data-dir", data.toString());
        assertEquals(0, prepared.exitCode(), prepared.err());
        run = Files.createDirectories(tmp.resolve("run"));
        CharTokenizer tokenizer = CharTokenizer.fromCorpus(TEXT);
        TrainConfig config = TrainConfig.preset(TrainConfig.DEFAULT_PRESET).with(Map.of("dataset", "tiny",
                "out-dir", run.toString(), "n-layer", "2", "n-head", "2", "n-embd", "16", "block-size", "8"));
        Gpt model = new Gpt(new GptConfig(tokenizer.vocabSize(), 8, 2, 2, 16, 0.0, false), 1);
        Nd4j.getRandom().setSeed(1);
        for (Parameter p : model.parameters().values()) {
            p.value().addi(Nd4j.randn(p.value().dataType(), p.value().shape()).muli(0.3));
        }
        AdamW optimizer = new AdamW(model.parameters(), 0.9, 0.99, 1e-8, 0.1);
        new CheckpointWriter().write(Checkpoint.best(run), config, tokenizer,
                new TrainingState(10, 10, 2.5, new quill.random.TorchGenerator(1).state(), new int[]{2}, 3),
                model, optimizer);
    }

    private static JsonObject json(CliRun r) {
        return JsonParser.parseString(r.out()).getAsJsonObject();
    }

    private CliRun eval(String... extra) {
        String[] args = {"eval", "--data-dir", data.toString()};
        String[] all = java.util.Arrays.copyOf(args, args.length + extra.length);
        System.arraycopy(extra, 0, all, args.length, extra.length);
        return CliRun.quill(all);
    }

    @Test
    void printsLossPerplexityAndBitsPerCharacterOfTheWholeSplit() throws IOException {
        JsonObject meta = JsonParser.parseString(Files.readString(data.resolve("tiny/meta.json"))).getAsJsonObject();
        int val = meta.get("val_tokens").getAsInt(), trainTokens = meta.get("train_tokens").getAsInt();
        CliRun r = eval("--out-dir", run.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("val split of tiny: " + (val - 1) + " tokens predicted (" + (val - 1)
                + " characters), windows of 8"), r.out());
        assertTrue(r.out().matches("(?s).*loss \\d\\.\\d{4} {3}perplexity \\d+\\.\\d{3} {3}bits/char \\d\\.\\d{4}.*"),
                r.out());

        JsonObject json = json(eval("--out-dir", run.toString(), "--json", "--threads", "1"));
        JsonObject train = json(eval("--ckpt", Checkpoint.best(run).toString(), "--json", "--split", "train"));
        assertEquals(val - 1, json.get("tokens").getAsLong());
        assertEquals(trainTokens - 1, train.get("tokens").getAsLong());
        assertEquals(json.get("loss").getAsDouble() / Math.log(2), json.get("bits_per_char").getAsDouble(), 1e-9);
        String loss = String.format(java.util.Locale.ROOT, "loss %.4f", json.get("loss").getAsDouble());
        assertTrue(r.out().contains(loss), r.out());
    }

    @Test
    void quantisedCheckpointsEvaluateSampleAndDrawCloseToTheFloatOne() {
        double loss = json(eval("--out-dir", run.toString(), "--json")).get("loss").getAsDouble();
        CliRun q = CliRun.quill("quantize", run.toString(), "--bits", "8");
        assertEquals(0, q.exitCode(), q.err());
        Path int8 = run.resolve("ckpt-int8.zip");
        assertTrue(q.out().startsWith("wrote " + int8 + ": int8, one scale per row"), q.out());
        CliRun r = eval("--ckpt", int8.toString(), "--json");
        assertEquals(0, r.exitCode(), r.err());
        assertEquals(loss, json(r).get("loss").getAsDouble(), 0.01 * loss);
        assertEquals("int8, one scale per row", json(r).get("quantization").getAsString());
        CliRun s = CliRun.quill("sample", "--ckpt", int8.toString(), "--num-samples", "1", "--max-new-tokens", "20");
        assertEquals(0, s.exitCode(), s.err());
        CliRun a = CliRun.quill("attention", "--ckpt", int8.toString(), "--start", "To be",
                "--out", tmp.resolve("a.png").toString());
        assertEquals(0, a.exitCode(), a.err());

        CliRun again = CliRun.quill("quantize", int8.toString(), "--bits", "4");
        assertEquals(1, again.exitCode());
        assertTrue(again.err().startsWith("error: " + int8 + " is already quantised"), again.err());
        CliRun over = CliRun.quill("quantize", run.toString(), "--bits", "4", "--out", Checkpoint.best(run).toString());
        assertTrue(over.err().startsWith("error: --out " + Checkpoint.best(run) + " would replace a training"),
                over.err());
        CliRun group = CliRun.quill("quantize", run.toString(), "--bits", "8", "--group-size", "32");
        assertEquals(2, group.exitCode());
        assertTrue(group.err().contains("--group-size is for 4 bits"), group.err());
    }

    @Test
    void badInputIsOneClearLine() throws IOException {
        CliRun missing = eval("--out-dir", tmp.resolve("nothing").toString());
        assertEquals(1, missing.exitCode());
        assertTrue(missing.err().startsWith("error: no checkpoint in " + tmp.resolve("nothing")), missing.err());
        assertEquals(1, missing.err().lines().count(), missing.err());

        Path other = Files.writeString(tmp.resolve("other.txt"), "abcdefghij".repeat(20));
        CliRun.quill("prepare", "other", "--input", other.toString(), "--data-dir", data.toString());
        CliRun vocab = eval("--out-dir", run.toString(), "--dataset", "other");
        assertEquals(1, vocab.exitCode());
        assertTrue(vocab.err().startsWith("error: dataset other's vocabulary (10 tokens) differs from the one"),
                vocab.err());

        // a val split of one token: nothing to predict
        Path tiny = data.resolve("tiny");
        Files.write(tiny.resolve("val.bin"), new byte[2]);
        Path meta = tiny.resolve("meta.json");
        JsonObject m = JsonParser.parseString(Files.readString(meta)).getAsJsonObject();
        m.addProperty("val_tokens", 1);
        Files.writeString(meta, m.toString());
        CliRun empty = eval("--out-dir", run.toString());
        assertEquals(1, empty.exitCode());
        assertEquals("error: the val split of tiny holds 1 token: nothing to predict", empty.err().strip());

        CliRun notPrepared = eval("--out-dir", run.toString(), "--dataset", "nope");
        assertTrue(notPrepared.err().startsWith("error: dataset nope is not prepared in " + data), notPrepared.err());
    }
}
