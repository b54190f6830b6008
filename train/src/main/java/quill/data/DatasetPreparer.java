package quill.data;

import quill.checkpoint.AtomicFiles;
import quill.train.FineTune;

import quill.tokenizer.BpeTokenizer;
import quill.tokenizer.CharTokenizer;
import quill.tokenizer.Tokenizer;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.PrintWriter;
import java.net.ConnectException;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.UnresolvedAddressException;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Turns a UTF-8 text into the files a GPT trains on, as nanoGPT's
 * {@code data/shakespeare_char/prepare.py} does: a {@link CharTokenizer} over the whole text, every
 * code point one token, the first {@code int(n * 0.9)} tokens to {@code train.bin} and the rest to
 * {@code val.bin}. On Tiny Shakespeare that is 65 symbols, 1,003,854 training and 111,540 validation
 * tokens, nanoGPT's numbers. {@link PreparedData} describes the files.
 *
 * <p>With a {@link BpeTokenizer} it follows nanoGPT's {@code data/shakespeare/prepare.py} instead: the text
 * is split at 90% of its characters, the tokenizer learns its merges from the training part only (the
 * validation text stays unseen), and each part is encoded on its own.
 */
public final class DatasetPreparer {

    static final URI SHAKESPEARE_URL =
            URI.create("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt");
    static final int SHAKESPEARE_BYTES = 1_115_394;
    static final String SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed";
    /**
     * Where a copy of the corpus may sit beside the checkout (relative to the working folder) on machines
     * without internet; used only when the download fails and only if its size and sha256 are the corpus's.
     */
    static final Path SHAKESPEARE_LOCAL_COPY = Path.of("..", "shared", "data", "tinyshakespeare.txt");

    /** Token files hold each id in 16 bits; we allow at most 65,535 symbols. */
    public static final int MAX_VOCAB_SIZE = 65_535;

    /** Short, so that a machine without internet hears about {@code --input} quickly. */
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration RESPONSE_TIMEOUT = Duration.ofSeconds(30);

    /** Writes one new file's bytes (tests give one that runs out of disk space). */
    interface Writer {
        void write(Path file, byte[] bytes) throws IOException;
    }

    Writer writer = (file, bytes) -> Files.write(file, bytes, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
    private final PrintWriter progress;
    private final URI shakespeareUrl;
    private final Path localCopy;

    /** A preparer that reports download progress on {@code progress} (the command's stderr). */
    public DatasetPreparer(PrintWriter progress) {
        this(progress, SHAKESPEARE_URL, SHAKESPEARE_LOCAL_COPY);
    }

    /**
     * Tests point {@code shakespeareUrl} at a local server or at an address nothing answers, and {@code localCopy}
     * anywhere.
     */
    DatasetPreparer(PrintWriter progress, URI shakespeareUrl, Path localCopy) {
        this.progress = progress;
        this.shakespeareUrl = shakespeareUrl;
        this.localCopy = localCopy;
    }

    /**
     * Prepares {@code <dataDir>/<dataset>/} from {@code input}, copied there as {@code input.txt}; with no
     * {@code input}, from the {@code input.txt} already there, downloading Tiny Shakespeare first when
     * the default dataset has none. The text is read and checked before anything is written, so bad
     * input never damages an earlier preparation; each file is replaced atomically, so running it again
     * is safe.
     */
    public PreparedData prepare(Path dataDir, String dataset, Path input) throws IOException {
        return prepare(dataDir, dataset, input, null);
    }

    /** How to build a BPE tokenizer: vocabulary size and split pattern ({@code gpt4}, {@code gpt2}, {@code none}). */
    public record Bpe(int vocabSize, String splitPattern) {
    }

    /** As above; {@code bpe} null for one token per character, else a BPE tokenizer trained on the training text. */
    public PreparedData prepare(Path dataDir, String dataset, Path input, Bpe bpe) throws IOException {
        return prepare(dataDir, dataset, input, bpe, null);
    }

    /**
     * For fine-tuning: encode with another run's vocabulary ({@code vocabulary}, null for the text's own), appending
     * the characters it lacks when {@code extendVocab} ({@link FineTune#vocabularyFor}), and split by whole
     * dictionary entries when {@code valEntries} is positive ({@link Entries#select}).
     */
    public record FineTuneSet(Tokenizer vocabulary, boolean extendVocab, int trainEntries, int valEntries) {
    }

    /** As above, with {@code set} (null: as {@link #prepare(Path, String, Path, Bpe)}). */
    public PreparedData prepare(Path dataDir, String dataset, Path input, Bpe bpe, FineTuneSet set) throws IOException {
        Path dir = PreparedData.datasetDir(dataDir, dataset);
        Path inputTxt = dir.resolve("input.txt");
        boolean keepInputTxt = input == null && Files.exists(inputTxt);
        Path source = input != null ? input : inputTxt;
        byte[] bytes;
        if (input != null || keepInputTxt) {
            bytes = read(source);
        } else if (dataset.equals(PreparedData.DEFAULT_DATASET)) {
            bytes = downloadShakespeare();
        } else {
            throw new IllegalArgumentException(inputTxt
                    + " does not exist: pass the text to prepare with --input FILE");
        }

        String text = decodeUtf8(bytes, source);
        Tokenizer tokenizer;
        int[] ids;
        int split;
        if (set != null) {
            if (set.valEntries() > 0 && input == null) {
                throw new IllegalArgumentException("--val-entries selects entries from --input FILE: give it");
            }
            String[] parts = set.valEntries() > 0 ? Entries.select(text, set.trainEntries(), set.valEntries(), source)
                    : splitAtNinetyPercent(text, source);
            text = parts[0] + parts[1];
            if (set.valEntries() > 0) bytes = text.getBytes(StandardCharsets.UTF_8); // input.txt: the entries used
            tokenizer = set.vocabulary() != null
                    ? FineTune.vocabularyFor(set.vocabulary(), text, set.extendVocab(), source)
                    : checkedCharTokenizer(text, source);
            int[] trainIds = tokenizer.encode(parts[0]);
            int[] valIds = tokenizer.encode(parts[1]);
            ids = Arrays.copyOf(trainIds, trainIds.length + valIds.length);
            System.arraycopy(valIds, 0, ids, trainIds.length, valIds.length);
            split = trainIds.length;
        } else if (bpe == null) {
            tokenizer = CharTokenizer.fromCorpus(text);
            if (tokenizer.vocabSize() > MAX_VOCAB_SIZE) {
                throw new IllegalArgumentException(String.format(Locale.ROOT,
                        "%s has %,d distinct characters, but token"
                        + " files store 16-bit ids, which allow at most %,d", source, tokenizer.vocabSize(),
                        MAX_VOCAB_SIZE));
            }
            ids = tokenizer.encode(text);
            split = (int) (ids.length * 0.9); // Python's int(n*0.9): the same double, truncated
        } else {
            int characters = text.codePointCount(0, text.length());
            int at = text.offsetByCodePoints(0, (int) (characters * 0.9)); // prepare.py's data[:int(n*0.9)]
            String train = text.substring(0, at);
            if (train.isEmpty() || at == text.length()) throw tooShort(source, characters);
            long t0 = System.nanoTime();
            BpeTokenizer bpeTokenizer = BpeTokenizer.train(train, bpe.vocabSize(), bpe.splitPattern());
            progress.printf(Locale.ROOT, "trained a BPE tokenizer (%,d ids, %s split) on %,d characters in %.2f s%n",
                    bpeTokenizer.vocabSize(), bpeTokenizer.splitPattern(), train.codePointCount(0, train.length()),
                    (System.nanoTime() - t0) / 1e9);
            progress.flush();
            tokenizer = bpeTokenizer;
            int[] trainIds = tokenizer.encode(train);
            int[] valIds = tokenizer.encode(text.substring(at));
            ids = Arrays.copyOf(trainIds, trainIds.length + valIds.length);
            System.arraycopy(valIds, 0, ids, trainIds.length, valIds.length);
            split = trainIds.length;
        }
        if (split == 0 || split == ids.length) throw tooShort(source, ids.length);
        PreparedData data = new PreparedData(dir, tokenizer, split, ids.length - split, sha256(bytes));

        try {
            Files.createDirectories(dir);
            AtomicFiles.removeLeftovers(dir, List.of("input.txt", "train.bin", "val.bin", "meta.json"));
        } catch (IOException e) {
            throw new IOException("cannot write to the folder " + dir + ": " + AtomicFiles.reason(e), e);
        }
        // Every new file is written beside the old ones first: a full disk (or a kill) before the renames leaves the
        // old dataset whole and prepared. Then meta.json goes, the files move into place, and the new meta.json last.
        Map<Path, Path> staged = new LinkedHashMap<>(); // target -> its new content
        try {
            if (!keepInputTxt) staged.put(inputTxt, stage(inputTxt, bytes));
            staged.put(data.trainBin(), stage(data.trainBin(), PreparedData.toUint16(ids, 0, split)));
            staged.put(data.valBin(), stage(data.valBin(), PreparedData.toUint16(ids, split, ids.length)));
            staged.put(data.metaJson(), stage(data.metaJson(), data.metaJsonContent()));
            Files.deleteIfExists(data.metaJson()); // until the new one is in place, the folder is not "prepared"
            for (Map.Entry<Path, Path> e : staged.entrySet()) AtomicFiles.commit(e.getValue(), e.getKey());
        } catch (IOException e) {
            for (Path temp : staged.values()) Files.deleteIfExists(temp);
            throw new IOException("cannot prepare " + dir + ": " + AtomicFiles.reason(e)
                    + (Files.isRegularFile(data.metaJson()) ? " (the dataset there before is unchanged)" : ""), e);
        }
        return data;
    }

    /** The first 90% of the characters and the rest, as nanoGPT's prepare.py splits. */
    private static String[] splitAtNinetyPercent(String text, Path source) {
        int characters = text.codePointCount(0, text.length());
        int at = text.offsetByCodePoints(0, (int) (characters * 0.9));
        if (at == 0 || at == text.length()) throw tooShort(source, characters);
        return new String[]{text.substring(0, at), text.substring(at)};
    }

    private static Tokenizer checkedCharTokenizer(String text, Path source) {
        Tokenizer tokenizer = CharTokenizer.fromCorpus(text);
        if (tokenizer.vocabSize() > MAX_VOCAB_SIZE) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "%s has %,d distinct characters, but token"
                    + " files store 16-bit ids, which allow at most %,d", source, tokenizer.vocabSize(),
                    MAX_VOCAB_SIZE));
        }
        return tokenizer;
    }

    private Path stage(Path target, byte[] bytes) throws IOException {
        return AtomicFiles.stage(target, temp -> writer.write(temp, bytes));
    }

    private static byte[] read(Path file) throws IOException {
        if (!Files.exists(file)) throw new IOException("input file " + file + " does not exist");
        if (Files.isDirectory(file)) throw new IOException(file + " is a folder, not a text file");
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new IOException("cannot read " + file + ": " + AtomicFiles.reason(e), e);
        }
        if (bytes.length == 0) throw new IllegalArgumentException(file + " is empty: there is no text to prepare");
        return bytes;
    }

    /** Strict UTF-8: a malformed byte is an error that gives its offset, never a silent U+FFFD. */
    private static String decodeUtf8(byte[] bytes, Path source) {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length); // UTF-8 never gives more chars than bytes
        CoderResult result = decoder.decode(in, out, true);
        if (!result.isError()) result = decoder.flush(out);
        if (result.isError()) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "%s is not valid UTF-8: byte 0x%02X at byte offset %d does"
                    + " not fit a UTF-8 character (save the file as UTF-8 and try again)",
                    source, bytes[in.position()] & 0xFF, in.position()));
        }
        return out.flip().toString();
    }

    private static IllegalArgumentException tooShort(Path source, int characters) {
        return new IllegalArgumentException(source + " is too short: train.bin and val.bin need at least one token"
                + " each, so at least 2 characters (it has " + characters + ")");
    }

    private byte[] downloadShakespeare() throws IOException {
        progress.println("downloading Tiny Shakespeare from " + shakespeareUrl);
        progress.flush();
        try {
            return verified(download());
        } catch (IOException e) {
            if (Files.isRegularFile(localCopy)) {
                try {
                    byte[] bytes = verified(Files.readAllBytes(localCopy));
                    progress.println("could not download it (" + reason(e) + "); using the local copy " + localCopy
                            + " (its sha256 is the corpus's)");
                    return bytes;
                } catch (IOException notTheCorpus) {
                    // not the corpus: report the failed download below
                }
            }
            throw new IOException("could not download Tiny Shakespeare from " + shakespeareUrl + " (" + reason(e)
                    + "). Pass a local"
                    + " copy instead: ./quill prepare --input FILE (on a machine without internet, e.g."
                    + " --input ../shared/data/tinyshakespeare.txt)", e);
        }
    }

    /** {@code bytes} if they are Tiny Shakespeare's, by size and sha256. */
    private static byte[] verified(byte[] bytes) throws IOException {
        String sha256 = sha256(bytes);
        if (bytes.length != SHAKESPEARE_BYTES || !sha256.equals(SHAKESPEARE_SHA256)) {
            throw new IOException(String.format(Locale.ROOT,
                    "got %,d bytes with sha256 %s, expected %,d bytes with sha256 %s",
                    bytes.length, sha256, SHAKESPEARE_BYTES, SHAKESPEARE_SHA256));
        }
        return bytes;
    }

    private byte[] download() throws IOException {
        HttpClient client = HttpClient.newBuilder()
                .connectTimeout(CONNECT_TIMEOUT)
                .followRedirects(HttpClient.Redirect.NORMAL)
                .build();
        HttpRequest request = HttpRequest.newBuilder(shakespeareUrl).timeout(RESPONSE_TIMEOUT).GET().build();
        HttpResponse<InputStream> response;
        try {
            response = client.send(request, HttpResponse.BodyHandlers.ofInputStream());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted");
        }
        try (InputStream body = response.body()) {
            if (response.statusCode() != 200) throw new IOException("HTTP status " + response.statusCode());
            ByteArrayOutputStream bytes = new ByteArrayOutputStream(SHAKESPEARE_BYTES);
            byte[] buffer = new byte[64 * 1024];
            for (int n; (n = body.read(buffer)) >= 0; ) {
                bytes.write(buffer, 0, n);
                if (bytes.size() > SHAKESPEARE_BYTES) throw new IOException("the file is larger than expected");
                progress.printf(Locale.ROOT, "\r  %,d of %,d bytes", bytes.size(), SHAKESPEARE_BYTES);
                progress.flush();
            }
            progress.println();
            return bytes.toByteArray();
        }
    }

    /** Why a download failed, in words: the HTTP client often throws exceptions without a message. */
    private static String reason(IOException e) {
        for (Throwable cause = e; cause != null; cause = cause.getCause()) {
            if (cause instanceof UnresolvedAddressException || cause instanceof UnknownHostException) {
                return "the host name does not resolve: no internet?";
            }
        }
        if (e instanceof ConnectException && e.getMessage() == null) return "the connection failed";
        return AtomicFiles.reason(e);
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }
}
