package quill.data;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import quill.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ShortBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * A prepared dataset: the folder {@code <dataDir>/<dataset>/} that {@link DatasetPreparer} writes and
 * training reads. It holds
 * <ul>
 *   <li>{@code input.txt}: the source text, UTF-8;</li>
 *   <li>{@code train.bin}, {@code val.bin}: the first 90% of the tokens and the last 10%, each token an
 *       unsigned 16-bit little-endian integer, as nanoGPT's {@code np.uint16(...).tofile(...)} writes
 *       them (so {@code np.fromfile(f, dtype=np.uint16)} reads them back);</li>
 *   <li>{@code meta.json}: {@code vocab_size}, {@code train_tokens}, {@code val_tokens},
 *       {@code source_sha256} (of input.txt) and {@code tokenizer}, the tokenizer's own JSON
 *       ({@link Tokenizer#toJson()}), so the ids in the .bin files can be turned back into text.</li>
 * </ul>
 * {@code meta.json} is written last: when it is there, the .bin files beside it match it.
 */
public record PreparedData(Path dir, Tokenizer tokenizer, int trainTokens, int valTokens, String sourceSha256) {

    /**
     * Where dataset folders live unless {@code --data-dir} says otherwise: {@code data/}, relative to the
     * current folder (a String, so that picocli annotations can use it as a default value).
     */
    public static final String DEFAULT_DATA_DIR = "data";
    /** The dataset {@code quill prepare} and {@code quill train} use when none is named. */
    public static final String DEFAULT_DATASET = "shakespeare_char";

    /** A plain folder name, so that a dataset name can never point outside the data folder. */
    private static final Pattern DATASET_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*");

    /** {@code <dataDir>/<dataset>}, after checking that {@code dataset} is a plain folder name. */
    public static Path datasetDir(Path dataDir, String dataset) {
        if (!DATASET_NAME.matcher(dataset).matches()) {
            throw new IllegalArgumentException("dataset name '" + dataset + "' must be a plain folder name"
                    + " (letters, digits, '.', '_' and '-', starting with a letter or digit)");
        }
        return dataDir.resolve(dataset);
    }

    /**
     * Whether {@code <dataDir>/<dataset>} holds a finished preparation
     * ({@link #load} may still reject a damaged one).
     */
    public static boolean isPrepared(Path dataDir, String dataset) {
        Path dir = datasetDir(dataDir, dataset);
        return Files.isRegularFile(dir.resolve("meta.json"))
                && Files.isRegularFile(dir.resolve("train.bin"))
                && Files.isRegularFile(dir.resolve("val.bin"));
    }

    /** Reads {@code meta.json} of a prepared dataset and checks the .bin files against it. */
    public static PreparedData load(Path dataDir, String dataset) throws IOException {
        Path dir = datasetDir(dataDir, dataset);
        Path meta = dir.resolve("meta.json");
        String redo = ": run 'quill prepare " + dataset + "' again";
        if (!Files.isRegularFile(meta)) throw new IOException(meta + " does not exist" + redo);
        PreparedData data;
        try {
            JsonObject json = JsonParser.parseString(Files.readString(meta, StandardCharsets.UTF_8)).getAsJsonObject();
            data = new PreparedData(dir, Tokenizer.fromJson(field(json, "tokenizer").getAsJsonObject()),
                    field(json, "train_tokens").getAsInt(), field(json, "val_tokens").getAsInt(),
                    field(json, "source_sha256").getAsString());
        } catch (RuntimeException e) { // malformed JSON, a missing field, a field of the wrong kind
            throw new IOException(meta + " is damaged or from another version of Quill ("
                    + e.getMessage() + ")" + redo, e);
        }
        checkSize(data.trainBin(), data.trainTokens(), redo);
        checkSize(data.valBin(), data.valTokens(), redo);
        return data;
    }

    private static JsonElement field(JsonObject json, String name) {
        JsonElement value = json.get(name);
        if (value == null) throw new IllegalArgumentException("no \"" + name + "\" field");
        return value;
    }

    private static void checkSize(Path bin, int tokens, String redo) throws IOException {
        long bytes = Files.isRegularFile(bin) ? Files.size(bin) : -1;
        if (bytes != 2L * tokens) {
            throw new IOException(bin + (bytes < 0 ? " does not exist" : " has " + bytes + " bytes")
                    + " but meta.json says " + tokens + " tokens of 2 bytes" + redo);
        }
    }

    public Path inputTxt() {
        return dir.resolve("input.txt");
    }

    public Path trainBin() {
        return dir.resolve("train.bin");
    }

    public Path valBin() {
        return dir.resolve("val.bin");
    }

    public Path metaJson() {
        return dir.resolve("meta.json");
    }

    public int vocabSize() {
        return tokenizer.vocabSize();
    }

    /** The training tokens, {@link #trainTokens()} ids. */
    public int[] readTrain() throws IOException {
        return readTokens(trainBin());
    }

    /** The validation tokens, {@link #valTokens()} ids. */
    public int[] readVal() throws IOException {
        return readTokens(valBin());
    }

    /** {@code meta.json}'s content, pretty-printed UTF-8 JSON. */
    byte[] metaJsonContent() {
        JsonObject json = new JsonObject();
        json.addProperty("vocab_size", vocabSize());
        json.addProperty("train_tokens", trainTokens);
        json.addProperty("val_tokens", valTokens);
        json.addProperty("source_sha256", sourceSha256);
        json.add("tokenizer", tokenizer.toJson());
        String text = new GsonBuilder().disableHtmlEscaping().setPrettyPrinting().create().toJson(json) + "\n";
        return text.getBytes(StandardCharsets.UTF_8);
    }

    /** {@code ids[from, to)} as unsigned 16-bit little-endian integers, the .bin format. */
    static byte[] toUint16(int[] ids, int from, int to) {
        ByteBuffer bytes = ByteBuffer.allocate(2 * (to - from)).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = from; i < to; i++) bytes.putShort((short) ids[i]);
        return bytes.array();
    }

    private static int[] readTokens(Path bin) throws IOException {
        ShortBuffer shorts = ByteBuffer.wrap(Files.readAllBytes(bin)).order(ByteOrder.LITTLE_ENDIAN).asShortBuffer();
        int[] ids = new int[shorts.remaining()];
        for (int i = 0; i < ids.length; i++) ids[i] = Short.toUnsignedInt(shorts.get(i));
        return ids;
    }
}
