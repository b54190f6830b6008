package quill.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import quill.runtime.Backend;
import quill.kernels.Blas;
import quill.model.FastGpt;
import quill.model.Gpt;
import quill.checkpoint.Checkpoint;
import quill.sample.Sampler;
import quill.train.TrainConfig;
import quill.tokenizer.StreamingDecoder;
import quill.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.PrintWriter;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code quill sample}: nanoGPT's sample.py. Loads a run's checkpoint, encodes the start text, and
 * streams {@code --num-samples} continuations to stdout, token by token, through a KV cache.
 */
@Command(name = "sample", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Generate text from a checkpoint of 'quill train', as nanoGPT's sample.py does.",
                "Reads ckpt-best.zip in --out-dir (the lowest val loss, which is what nanoGPT's ckpt.pt holds),"
                        + " or ckpt-last.zip when there is no best one yet.",
                "The text goes to stdout as it is generated; the checkpoint and speed lines go to stderr."})
public final class SampleCommand implements Callable<Integer> {
    /** nanoGPT's separator between samples. */
    static final String SEPARATOR = "---------------";

    @Option(names = "--out-dir", paramLabel = "DIR",
            description = "The training run's folder (default: the CPU preset's, out/shakespeare_char_cpu).")
    Path outDir;

    @Option(names = "--ckpt", paramLabel = "FILE",
            description = "A checkpoint file instead (e.g. one 'quill quantize' wrote).")
    Path ckpt;

    @Option(names = "--start", paramLabel = "TEXT|FILE:path",
            description = "The prompt, or FILE:path to read it from a file (default: a newline).")
    String start = "\n";

    @Option(names = "--prompt-file", paramLabel = "FILE",
            description = "Read the prompt from a UTF-8 file (the same as --start FILE:path).")
    Path promptFile;

    @Option(names = "--num-samples", paramLabel = "N", defaultValue = "10",
            description = "Samples to draw (default: ${DEFAULT-VALUE}).")
    int numSamples;

    @Option(names = "--max-new-tokens", paramLabel = "N", defaultValue = "500",
            description = "Tokens per sample (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--temperature", paramLabel = "T", defaultValue = "0.8",
            description = "Divides the logits: below 1 is more predictable, above 1 more random, 0 always takes the"
                    + " likeliest token (default: ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--top-k", paramLabel = "K", defaultValue = "200",
            description = "Draw only from the K likeliest tokens; 0, or K at least the vocabulary size, keeps all"
                    + " (default: ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--top-p", paramLabel = "P", defaultValue = "1",
            description = "Nucleus sampling, after top-k: draw only from the likeliest tokens whose probabilities"
                    + " add up to P, in (0, 1] (default: 1, off).")
    double topP;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "1337",
            description = "Seeds the draws: the same seed gives the same text (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--no-kv-cache",
            description = "Recompute the whole context for every token, as nanoGPT does (same text, slower): to see"
                    + " what the KV cache saves.")
    boolean noKvCache;

    @Option(names = "--kv-slide", paramLabel = "N", defaultValue = "1",
            description = "When the context is full, drop the N oldest tokens at once and recompute the cache"
                    + " (default: ${DEFAULT-VALUE},"
                    + " exactly nanoGPT's cropping; larger is faster past block-size tokens, but the text differs).")
    int kvSlide;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "1",
            description = "Threads each full window's work is shared by (1 or 2), each with single-threaded OpenBLAS,"
                    + " for models of nanoGPT's kind (default: ${DEFAULT-VALUE}; 2 pays from about a thousand tokens on,"
                    + " once the JIT has finished compiling and leaves the second core free); with --no-kv-cache,"
                    + " ND4J's and OpenBLAS's threads. The text is the same for any count.")
    int threads;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        validate();
        PrintWriter err = spec.commandLine().getErr();
        if (outDir != null && ckpt != null) throw new CommandLine.ParameterException(spec.commandLine(),
                "give --out-dir or --ckpt, not both");
        Path file = ckpt != null ? ckpt : EvalCommand.runCheckpoint(outDir);
        // OpenBLAS before the checkpoint, for every sample with the cache (its windows' products): loading it makes
        // JavaCPP look through every jar, and the JIT then compiles the JDK code that made hot while the checkpoint is
        // read, rather than while the first windows wait for their kernels' compiles (README, Sampling)
        if (!noKvCache) Blas.setThreads(1);                  // each thread of a window calls OpenBLAS on its own
        Checkpoint checkpoint = Checkpoint.load(file);
        Tokenizer tokenizer = checkpoint.tokenizer();
        int[] prompt = encode(tokenizer, prompt());
        int blockSize = checkpoint.modelConfig().blockSize();
        if (kvSlide > blockSize) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--kv-slide must be at most the model's block size, " + blockSize + ", got " + kvSlide);
        }
        // a model of nanoGPT's kind generates without ND4J, which then never starts (half a second)
        FastGpt fast = noKvCache ? null : checkpoint.fastModel();
        Gpt model = null;
        if (fast == null) {
            Backend.awaitStart();                            // ND4J, if Quill.main started it early
            model = checkpoint.newModel();
            Backend.setThreads(noKvCache ? threads : 1);
        }
        err.println("checkpoint " + file + ": iteration " + checkpoint.state().iter() + ", best val loss "
                + fixed(checkpoint.state().bestValLoss(), 4));
        err.flush();
        double startup = secondsSinceLaunch();

        // stdout gets the text only, flushed token by token
        PrintWriter out = spec.commandLine().getOut();
        Sampler sampler = new Sampler(temperature, topK, topP, seed);
        long tokens = 0;
        long t0 = System.nanoTime();
        long[] drawn = {0};
        try {
            for (int s = 0; s < numSamples; s++) {
                Sampler.Logits logits = fast != null ? fast.cache(kvSlide, threads)::nextTokenLogits
                        : noKvCache ? Sampler.fullForward(model) : Sampler.cached(model, kvSlide, threads);
                out.print(tokenizer.decode(prompt));
                out.flush();
                // a BPE token may end inside a character: its bytes wait for the next token
                StreamingDecoder text = new StreamingDecoder(tokenizer);
                sampler.generate(logits, prompt, maxNewTokens, id -> {
                    drawn[0]++;
                    out.print(text.next(id));
                    out.flush();
                    if (closed(out)) throw new OutputClosed();
                });
                out.println(text.finish());
                out.println(SEPARATOR);
                out.flush();
            }
        } catch (OutputClosed e) {
            return 0; // `quill sample | head`: the reader has what it wanted
        }
        tokens = drawn[0];
        double seconds = (System.nanoTime() - t0) / 1e9;
        err.println(tokens + " tokens in " + fixed(seconds, 2) + " s: " + fixed(tokens / seconds, 0) + " tokens/s ("
                + (noKvCache ? "no KV cache" : "KV cache" + (kvSlide > 1 ? ", slide " + kvSlide : "")
                        + (fast != null ? ", without ND4J" : "")) + "); start-up (JVM, "
                + (fast != null ? "" : "ND4J, ") + "checkpoint) took " + fixed(startup, 2) + " s");
        err.flush();
        return 0;
    }

    /**
     * {@code x} with {@code decimals} digits after the point, as {@code %.Nf} writes it (rounding half up). The two
     * lines on stderr are made without java.util.Formatter, whose first use (its patterns, the locale's number symbols)
     * costs a fresh JVM about 6 ms of a sample's second (README, Sampling).
     */
    static String fixed(double x, int decimals) {
        if (!Double.isFinite(x)) return Double.toString(x);
        return new BigDecimal(Double.toString(x)).setScale(decimals, RoundingMode.HALF_UP).toPlainString();
    }

    /**
     * Seconds since {@code ./quill} started, which passes its start time (microseconds since the epoch, from bash's
     * EPOCHREALTIME) as {@code quill.launched}; since the JVM started when it was not run by the launcher. Asking the
     * JVM (java.lang.management) costs a fresh one about 6 ms.
     */
    static double secondsSinceLaunch() {
        String launched = System.getProperty("quill.launched");
        if (launched != null) {
            try {
                return (System.currentTimeMillis() * 1000 - Long.parseLong(launched)) / 1e6;
            } catch (NumberFormatException e) {
                // not the launcher's: fall through
            }
        }
        return java.lang.management.ManagementFactory.getRuntimeMXBean().getUptime() / 1000.0;
    }

    /** Thrown from the token callback to stop generating once nobody reads stdout. */
    private static final class OutputClosed extends RuntimeException {
        OutputClosed() {
            super(null, null, false, false);
        }
    }

    /** Whether writing to {@code out} failed: the pipe's reader has gone (System.out reports it only to itself). */
    private static boolean closed(PrintWriter out) {
        return out.checkError() || System.out.checkError();
    }

    /** Settings out of range are usage errors (exit 2), as picocli's own are. */
    private void validate() {
        String problem = null;
        if (!(temperature >= 0) || Double.isInfinite(temperature)) problem = "--temperature must be 0 (greedy) or"
                + " positive, got " + temperature;
        else if (topK < 0) problem = "--top-k must be at least 0 (0 keeps every token), got " + topK;
        else if (!(topP > 0 && topP <= 1)) problem = "--top-p must be in (0, 1] (1 turns it off), got " + topP;
        else if (numSamples < 1) problem = "--num-samples must be at least 1, got " + numSamples;
        else if (maxNewTokens < 1) problem = "--max-new-tokens must be at least 1, got " + maxNewTokens;
        else if (threads < 1) problem = "--threads must be at least 1, got " + threads;
        else if (kvSlide < 1) problem = "--kv-slide must be at least 1, got " + kvSlide;
        else if (noKvCache && kvSlide != 1) problem = "--kv-slide has no effect with --no-kv-cache;"
                + " give one or the other";
        if (problem != null) throw new CommandLine.ParameterException(spec.commandLine(), problem);
    }

    /** The --start text, or the contents of the file it names after {@code FILE:}, as nanoGPT's sample.py. */
    private String prompt() throws IOException {
        if (promptFile == null && !start.startsWith("FILE:")) return start;
        if (promptFile != null && !"\n".equals(start)) {
            throw new CliException("give --start or --prompt-file, not both");
        }
        Path file = promptFile != null ? promptFile : Path.of(start.substring("FILE:".length()));
        String option = promptFile != null ? "--prompt-file " + file : "--start " + start;
        if (!Files.isRegularFile(file)) throw new CliException(option + ": no file at " + file);
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new CliException(option + ": " + file + " is not UTF-8 text; save it as UTF-8", e);
        }
    }

    private static int[] encode(Tokenizer tokenizer, String text) {
        if (text.isEmpty()) throw new CliException("the start text is empty: give at least one character with --start");
        try {
            return tokenizer.encode(text);
        } catch (IllegalArgumentException e) { // names the character and where it is
            throw new CliException("cannot encode the start text: " + e.getMessage()
                    + "; use only characters of the training text", e);
        }
    }
}
