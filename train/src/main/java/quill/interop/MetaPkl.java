package quill.interop;

import com.google.gson.JsonObject;
import net.razorvine.pickle.PickleException;
import net.razorvine.pickle.Pickler;
import net.razorvine.pickle.Unpickler;
import quill.tokenizer.CharTokenizer;
import quill.tokenizer.Tokenizer;
import quill.checkpoint.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * nanoGPT's {@code meta.pkl}: a character vocabulary as {@code data/shakespeare_char/prepare.py} pickles it,
 * {@code {'vocab_size': 65, 'itos': {0: '\n', 1: ' ', ...}, 'stoi': {'\n': 0, ' ': 1, ...}}}. nanoGPT's
 * {@code train.py} reads {@code vocab_size} from it and {@code sample.py} encodes and decodes with it. The ids are
 * those of {@link CharTokenizer}: the sorted characters of the text.
 */
public final class MetaPkl {
    private MetaPkl() {
    }

    /** Writes {@code tokenizer}'s vocabulary; only a character vocabulary has this form. */
    public static void write(Path file, Tokenizer tokenizer) throws IOException {
        check(tokenizer);
        Map<Integer, String> itos = new LinkedHashMap<>();
        Map<String, Integer> stoi = new LinkedHashMap<>();
        for (int id = 0; id < tokenizer.vocabSize(); id++) {
            String ch = tokenizer.decode(new int[]{id});
            itos.put(id, ch);
            stoi.put(ch, id);
        }
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("vocab_size", tokenizer.vocabSize());
        meta.put("itos", itos);
        meta.put("stoi", stoi);
        byte[] bytes;
        try {
            bytes = new Pickler(false).dumps(meta);
        } catch (PickleException e) {
            throw new IllegalStateException(e);
        }
        AtomicFiles.write(file, bytes);
    }

    /** Fails unless {@code tokenizer}'s vocabulary fits in a meta.pkl: characters, one id each. */
    public static void check(Tokenizer tokenizer) {
        if (!(tokenizer instanceof CharTokenizer)) {
            String type = tokenizer.toJson().get("type").getAsString();
            throw new IllegalArgumentException("meta.pkl holds a character vocabulary, and this model's tokenizer is of"
                    + " type '" + type + "', which nanoGPT's sample.py cannot use");
        }
    }

    /**
     * The character vocabulary of a meta.pkl. It must be what prepare.py writes: {@code itos} maps the ids 0 to
     * vocab_size - 1 to single characters in ascending order, as {@link CharTokenizer} numbers them.
     */
    public static CharTokenizer read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new IOException("no meta.pkl at " + file);
        Object meta;
        try {
            meta = new Unpickler().loads(Files.readAllBytes(file));
        } catch (PickleException | ClassCastException | IndexOutOfBoundsException e) {
            throw new IOException(file + " is not a pickle file, or a damaged one (" + e.getMessage() + ")", e);
        } catch (IOException e) {
            throw new IOException(file + " is truncated: " + e.getMessage(), e);
        }
        if (!(meta instanceof Map<?, ?> m) || !(m.get("itos") instanceof Map<?, ?> itos)) {
            boolean bpe = meta instanceof Map<?, ?> m2 && m2.containsKey("vocab_size");
            throw new IOException(file + " is not nanoGPT's meta.pkl: it has no 'itos' dict of characters"
                    + (bpe ? " (a BPE dataset's meta.pkl?)" : ""));
        }
        StringBuilder chars = new StringBuilder();
        for (int id = 0; id < itos.size(); id++) {
            Object ch = itos.get(id);
            if (ch == null) ch = itos.get((long) id);
            if (!(ch instanceof String s) || s.codePointCount(0, s.length()) != 1) {
                throw new IOException(file + ": itos[" + id + "] is " + (ch == null ? "missing" : "'" + ch + "'")
                        + ", not one character; Quill reads character vocabularies only");
            }
            chars.append(s);
        }
        JsonObject json = new JsonObject();
        json.addProperty("type", "char");
        json.addProperty("chars", chars.toString());
        try {
            return CharTokenizer.fromJson(json);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": its vocabulary is not numbered as Quill's (sorted characters): "
                    + e.getMessage(), e);
        }
    }
}
