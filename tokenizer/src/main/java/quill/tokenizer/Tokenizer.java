package quill.tokenizer;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Turns text into token ids and back: the model never sees text, only integers in
 * {@code [0, vocabSize())}, one embedding row per id.
 *
 * <p>{@link CharTokenizer} gives every character its own id, as nanoGPT's shakespeare_char does.
 * {@link BpeTokenizer} (byte-pair encoding, as GPT-2 uses) trades a larger vocabulary for shorter
 * sequences, so the model sees more text per block.
 *
 * <p>A tokenizer is saved as a JSON object whose {@code "type"} field says which class reads it back
 * ({@code "char"} for {@link CharTokenizer}, {@code "bpe"} for {@link BpeTokenizer}); {@link #fromJson}
 * dispatches on it.
 */
public interface Tokenizer {

    /** The ids of {@code text}, one per token; throws {@link IllegalArgumentException} for text it cannot encode. */
    int[] encode(String text);

    /** The text of {@code ids}; throws {@link IllegalArgumentException} for an id outside the vocabulary. */
    String decode(int[] ids);

    /**
     * The UTF-8 bytes token {@code id} stands for. A BPE token may hold part of a character only, so
     * text streamed token by token goes through a {@link StreamingDecoder}, never {@code decode} per id.
     */
    byte[] bytes(int id);

    /** The number of distinct ids: every id lies in {@code [0, vocabSize())}. */
    int vocabSize();

    /** This tokenizer as JSON, with a {@code "type"} field that {@link #fromJson} understands. */
    JsonObject toJson();

    /** Writes {@link #toJson()} to {@code file}, UTF-8, pretty-printed so a learner can read it. */
    default void save(Path file) throws IOException {
        String json = new GsonBuilder().disableHtmlEscaping().setPrettyPrinting().create().toJson(toJson());
        Files.writeString(file, json + "\n", StandardCharsets.UTF_8);
    }

    /** Reads a tokenizer that {@link #save} wrote. */
    static Tokenizer load(Path file) throws IOException {
        try (Reader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            JsonElement json = JsonParser.parseReader(reader);
            if (!json.isJsonObject()) throw new IllegalArgumentException(file + " does not hold a JSON object");
            return fromJson(json.getAsJsonObject());
        } catch (JsonParseException e) {
            throw new IllegalArgumentException(file + " is not valid JSON: " + e.getMessage(), e);
        }
    }

    /** The tokenizer described by {@code json}, as {@link #toJson()} wrote it. */
    static Tokenizer fromJson(JsonObject json) {
        JsonElement type = json.get("type");
        String name = type != null && type.isJsonPrimitive() ? type.getAsString() : "(missing)";
        if (name.equals(CharTokenizer.TYPE)) return CharTokenizer.fromJson(json);
        if (name.equals(BpeTokenizer.TYPE)) return BpeTokenizer.fromJson(json);
        throw new IllegalArgumentException("unknown tokenizer type '" + name + "' (known: '" + CharTokenizer.TYPE
                + "', '" + BpeTokenizer.TYPE + "')");
    }
}
