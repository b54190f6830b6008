package quill.cli;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import quill.autograd.Parameter;
import quill.model.Gpt;
import quill.checkpoint.Checkpoint;
import quill.train.FineTune;
import quill.tokenizer.CharTokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code quill train --init-from}, {@code --extend-vocab}, LoRA and {@code quill merge-lora}, as a user runs them. */
class FineTuneCommandTest {
    @TempDir
    static Path tmp;
    static Path base;
    static Path newText;

    /** A tiny base run, and a text with characters it lacks ("()[]_0-9). */
    @BeforeAll
    static void trainBase() throws IOException {
        Path input = tmp.resolve("base.txt");
        Files.writeString(input, "To be, or not to be, that is the question:\n".repeat(60));
        newText = tmp.resolve("new.txt");
        Files.writeString(newText, "BE, v.  To exist (1906); \"to be\" [or not] _to be_ the question.\n\n".repeat(60));
        base = tmp.resolve("base");
        CliRun run = CliRun.quill(train(base, "--input", input.toString(), "--dataset", "base", "--max-iters", "6"));
        assertEquals(0, run.exitCode(), run.err());
    }

    private static String[] train(Path outDir, String... extra) {
        List<String> args = new ArrayList<>(List.of("train", "--data-dir", tmp.resolve("data").toString(),
                "--out-dir", outDir.toString(), "--n-layer", "1", "--n-head", "2", "--n-embd", "16",
                "--block-size", "16",
                "--batch-size", "4", "--eval-interval", "3", "--eval-iters", "2", "--warmup-iters", "2",
                "--lr-decay-iters", "10", "--threads", "2"));
        args.addAll(List.of(extra));
        return args.toArray(String[]::new);
    }

    /** A run from the base on the new text: refused without --extend-vocab, LoRA with it; sample, eval, merge. */
    @Test
    void loraRunIsSmallSamplesResumesAndMergesToTheSameLogits() throws IOException {
        Path lora = tmp.resolve("lora");
        String[] missing = train(lora, "--init-from", base.toString(), "--input", newText.toString(),
                "--dataset", "new",
                "--lora-rank", "2", "--max-iters", "3");
        CliRun refused = CliRun.quill(missing);
        assertEquals(1, refused.exitCode(), refused.err());
        assertTrue(refused.err().contains("has 16 characters that the base's vocabulary of 17 lacks:"
                + " '\"' (U+0022) x120,"
                + " '(' (U+0028) x60"), refused.err());
        assertTrue(refused.err().contains("add --extend-vocab"), refused.err());
        assertFalse(Files.exists(lora), "nothing written");
        assertFalse(Files.exists(tmp.resolve("data/new/meta.json")), "nothing prepared");

        List<String> args = new ArrayList<>(List.of(missing));
        args.add("--extend-vocab");
        CliRun run = CliRun.quill(args.toArray(String[]::new));
        assertEquals(0, run.exitCode(), run.err());
        assertTrue(run.out().contains("vocabulary: the base's 17 ids and 16 new ones from dataset new"), run.out());
        assertTrue(run.out().contains("LoRA rank 2, alpha 8.0 on c_attn"), run.out());
        Path ckpt = lora.resolve("ckpt-last.zip");
        assertTrue(Files.size(ckpt) < Files.size(base.resolve("ckpt-last.zip")) / 2, "adapters only: small");

        for (String[] cmd : List.of(new String[]{"sample", "--out-dir", lora.toString(), "--num-samples", "1",
                "--max-new-tokens", "20"}, new String[]{"eval", "--out-dir", lora.toString(), "--data-dir",
                tmp.resolve("data").toString()}, new String[]{"attention", "--out-dir", lora.toString(), "--out",
                tmp.resolve("att.png").toString(), "--start", "To be"})) {
            CliRun r = CliRun.quill(cmd);
            assertEquals(0, r.exitCode(), cmd[0] + ": " + r.err());
        }
        CliRun otherRank = CliRun.quill(train(lora, "--resume", "--max-iters", "6", "--lora-rank", "4"));
        assertEquals(1, otherRank.exitCode());
        assertTrue(otherRank.err().contains("it has lora-rank 2 but the settings say 4"), otherRank.err());
        CliRun resumed = CliRun.quill(train(lora, "--resume", "--max-iters", "6"));
        assertEquals(0, resumed.exitCode(), resumed.err());
        assertTrue(resumed.out().contains("resuming from"), resumed.out());

        Gpt trained = Checkpoint.load(lora.resolve("ckpt-last.zip")).newModel();
        Gpt original = Checkpoint.load(base.resolve("ckpt-best.zip")).newModel();
        for (String frozen : List.of("transformer.h.0.attn.c_attn.weight", "transformer.h.0.mlp.c_fc.weight",
                "transformer.ln_f.weight")) {
            assertEquals(original.parameters().get(frozen).value(), trained.parameters().get(frozen).value(), frozen);
        }
        Parameter b0 = trained.adapters().get("transformer.h.0.attn.c_attn.lora_B.weight");
        assertTrue(b0.value().amaxNumber().doubleValue() > 0,
                "the adapters trained");

        Path merged = tmp.resolve("merged.zip");
        CliRun merge = CliRun.quill("merge-lora", lora.toString(), "--out", merged.toString());
        assertEquals(0, merge.exitCode(), merge.err());
        Gpt adapted = Checkpoint.load(lora.resolve("ckpt-best.zip")).newModel();
        Gpt plain = Checkpoint.load(merged).newModel();
        assertEquals(null, plain.lora());
        int[] context = {1, 2, 3, 4, 25, 30, 0, 5};
        float[] a = adapted.nextTokenLogits(context), b = plain.nextTokenLogits(context);
        double scale = 0;
        for (float v : a) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < a.length; i++) assertEquals(a[i], b[i], 1e-5 * scale, "logit " + i);
        byte[] before = Files.readAllBytes(merged);
        CliRun again = CliRun.quill("merge-lora", lora.toString(), "--out", merged.toString());
        assertEquals(1, again.exitCode());
        assertTrue(again.err().startsWith("error: --out " + merged + " already exists"), again.err());
        assertArrayEquals(before, Files.readAllBytes(merged));

        // the base checkpoint gone, then changed: every command that reads the LoRA run refuses it
        Path baseCkpt = base.resolve("ckpt-best.zip"), aside = tmp.resolve("aside.zip");
        Files.move(baseCkpt, aside);
        try {
            CliRun gone = CliRun.quill("sample", "--out-dir", lora.toString(), "--num-samples", "1");
            assertEquals(1, gone.exitCode());
            assertTrue(gone.err().startsWith("error: the base checkpoint of LoRA checkpoint")
                    && gone.err().contains("is gone"),
                    gone.err());
            Files.copy(aside, baseCkpt);
            Files.write(baseCkpt, new byte[]{0}, StandardOpenOption.APPEND);
            CliRun changed = CliRun.quill("eval", "--out-dir", lora.toString(),
                    "--data-dir", tmp.resolve("data").toString());
            assertEquals(1, changed.exitCode());
            assertTrue(changed.err().contains("changed: ") && changed.err().lines().count() == 1, changed.err());
        } finally {
            Files.move(aside, baseCkpt, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    @Test
    void fullFineTuningStartsFromTheBasesWeights() throws IOException {
        Path full = tmp.resolve("full");
        CliRun run = CliRun.quill(train(full, "--init-from", base.resolve("ckpt-last.zip").toString(), "--dataset",
                "base", "--max-iters", "3", "--learning-rate", "3e-4", "--min-lr", "3e-5"));
        assertEquals(0, run.exitCode(), run.err());
        assertTrue(run.out().contains("every weight trains"), run.out());
        double baseVal = Checkpoint.load(base.resolve("ckpt-best.zip")).state().bestValLoss();
        String eval0 = run.out().lines().filter(l -> l.startsWith("eval 0:")).findFirst().orElseThrow();
        double val0 = Double.parseDouble(eval0.replaceAll(".*val loss ([0-9.]+).*", "$1"));
        assertTrue(Math.abs(val0 - baseVal) < 0.3, "starts where the base ended: " + eval0 + " vs " + baseVal);
    }

    @Test
    void badInputIsOneErrorLineAndWritesNothing() throws IOException {
        Path junk = tmp.resolve("junk.zip");
        Files.writeString(junk, "not a zip");
        Path out = tmp.resolve("refused");
        String b = base.toString();
        String[][] cases = {
                {"--init-from", tmp.resolve("nowhere").toString(), "no checkpoint at"},
                {"--init-from", junk.toString(), "is incomplete or corrupt"},
                {"--init-from", b, "--bias", "--bias true contradicts the checkpoint"},
                {"--init-from", b, "--lora-rank", "0", "--lora-rank must be at least 1"},
                {"--init-from", b, "--lora-rank", "17", "lora-rank 17 is larger than layer transformer.h.0.attn"},
                {"--init-from", b, "--lora-rank", "2", "--lora-targets", "c_attn,q_proj", "unknown lora target"},
                {"--init-from", b, "--lora-rank", "2", "--lora-targets", "lm_head", "lm_head is tied to"},
                {"--lora-rank", "2", "LoRA adapts a trained model"},
        };
        for (String[] c : cases) {
            String expected = c[c.length - 1];
            List<String> args = new ArrayList<>(List.of(c).subList(0, c.length - 1));
            args.addAll(List.of("--dataset", "base"));
            CliRun r = CliRun.quill(train(out, args.toArray(String[]::new)));
            assertTrue(r.exitCode() != 0, expected);
            assertTrue(r.err().startsWith("error: ") && r.err().contains(expected), expected + " in: " + r.err());
            assertFalse(Files.exists(out), "nothing written for " + expected);
        }
        CliRun notLora = CliRun.quill("merge-lora", b, "--out", tmp.resolve("m.zip").toString());
        assertEquals(1, notLora.exitCode());
        assertTrue(notLora.err().contains("is not a LoRA checkpoint"), notLora.err());
    }

    @Test
    void extendingPastSixteenBitIdsIsRefused() {
        StringBuilder many = new StringBuilder();
        for (int cp = 0x100; many.codePointCount(0, many.length()) < 65_600; cp++) {
            if (!Character.isSurrogate((char) cp) || cp > 0xFFFF) many.appendCodePoint(cp);
        }
        IllegalArgumentException bpe = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> FineTune.vocabularyFor(quill.tokenizer.BpeTokenizer.train("abcabc", 258, "gpt4"), "xyz", true,
                        Path.of("new.txt")));
        assertTrue(bpe.getMessage().startsWith("--extend-vocab is for character vocabularies"), bpe.getMessage());
        CharTokenizer small = CharTokenizer.fromCorpus("abc");
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> FineTune.vocabularyFor(small, many.toString(), true, Path.of("big.txt")));
        assertTrue(e.getMessage().startsWith("--extend-vocab would make 65,603 symbols (the base's 3 and 65,600 new),"
                + " but token files store 16-bit ids, which allow at most 65,535"), e.getMessage());
    }
}
