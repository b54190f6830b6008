package quill.data;

import quill.train.SharedData;

import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The download of Tiny Shakespeare, against local servers: tests never touch the internet. */
class DatasetPreparerTest {

    @TempDir
    Path dataDir;

    private final StringWriter progress = new StringWriter();

    private PreparedData prepareFrom(URI url) throws IOException {
        return prepareFrom(url, dataDir.resolve("no-local-copy.txt"));
    }

    private PreparedData prepareFrom(URI url, Path localCopy) throws IOException {
        return new DatasetPreparer(new PrintWriter(progress, true), url, localCopy)
                .prepare(dataDir, PreparedData.DEFAULT_DATASET, null);
    }

    private static URI nothingAnswers() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return URI.create("http://127.0.0.1:" + socket.getLocalPort() + "/input.txt");
        } // closed: connecting is refused at once
    }

    /** Serves {@code body} at http://127.0.0.1:PORT/input.txt while {@code test} runs. */
    private static void serving(byte[] body, ThrowingConsumer<URI> test) throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/input.txt", exchange -> {
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        server.start();
        try {
            test.accept(URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/input.txt"));
        } finally {
            server.stop(0);
        }
    }

    private interface ThrowingConsumer<T> {
        void accept(T value) throws Exception;
    }

    @Test
    void failedDownloadSaysHowToPassALocalCopy() throws IOException {
        URI url = nothingAnswers();
        Path notTheCorpus = Files.writeString(dataDir.resolve("other.txt"), "not Shakespeare");
        IOException e = assertThrows(IOException.class, () -> prepareFrom(url, notTheCorpus));
        assertTrue(e.getMessage().startsWith("could not download Tiny Shakespeare from " + url), e.getMessage());
        assertTrue(e.getMessage().contains("Pass a local copy instead: ./quill prepare --input FILE"), e.getMessage());
        assertTrue(e.getMessage().contains("--input ../shared/data/tinyshakespeare.txt"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line");
        assertTrue(progress.toString().startsWith("downloading Tiny Shakespeare from "), progress.toString());
        assertTrue(Files.notExists(dataDir.resolve("shakespeare_char/input.txt")));
    }

    /** Without internet, a verified copy of the corpus beside the checkout (../shared/data here) is used instead. */
    @Test
    void aFailedDownloadFallsBackToAVerifiedLocalCopy() throws IOException {
        Path shakespeare = SharedData.tinyShakespeare().orElse(null);
        assumeTrue(shakespeare != null, "no local copy of Tiny Shakespeare in ../shared/data");
        PreparedData data = prepareFrom(nothingAnswers(), shakespeare);
        assertEquals(1_003_854, data.trainTokens());
        assertTrue(progress.toString().contains("using the local copy " + shakespeare), progress.toString());
    }

    @Test
    void downloadWithTheWrongChecksumIsRejected() throws Exception {
        serving("not Shakespeare".getBytes(StandardCharsets.UTF_8), url -> {
            IOException e = assertThrows(IOException.class, () -> prepareFrom(url));
            assertTrue(e.getMessage().contains("got 15 bytes with sha256 "), e.getMessage());
            assertTrue(e.getMessage().contains("expected 1,115,394 bytes with sha256 86c4e6aa"), e.getMessage());
        });
        assertTrue(Files.notExists(dataDir.resolve("shakespeare_char/input.txt")), "nothing unverified is kept");
    }

    @Test
    void downloadsVerifiesAndPrepares() throws Exception {
        Path shakespeare = SharedData.tinyShakespeare().orElse(null);
        assumeTrue(shakespeare != null, "no local copy of Tiny Shakespeare in ../shared/data");
        serving(Files.readAllBytes(shakespeare), url -> {
            PreparedData data = prepareFrom(url);
            assertEquals(65, data.vocabSize());
            assertEquals(1_003_854, data.trainTokens());
            assertEquals(111_540, data.valTokens());
        });
        assertTrue(progress.toString().contains("1,115,394 of 1,115,394 bytes"), progress.toString());
        assertTrue(PreparedData.isPrepared(dataDir, PreparedData.DEFAULT_DATASET));
    }

    @Test
    void loadRejectsTokenFilesThatDoNotMatchMetaJson() throws Exception {
        Path input = Files.writeString(dataDir.resolve("in.txt"), "hello, world");
        new DatasetPreparer(new PrintWriter(progress)).prepare(dataDir, "small", input);
        Files.write(dataDir.resolve("small/val.bin"), new byte[]{1, 0, 2, 0, 3, 0});
        IOException e = assertThrows(IOException.class, () -> PreparedData.load(dataDir, "small"));
        assertTrue(e.getMessage().endsWith("val.bin has 6 bytes but meta.json says 2 tokens of 2 bytes:"
                + " run 'quill prepare small' again"), e.getMessage());
    }

    @Test
    void loadRejectsADamagedMetaJson() throws Exception {
        Path input = Files.writeString(dataDir.resolve("in.txt"), "hello, world");
        new DatasetPreparer(new PrintWriter(progress)).prepare(dataDir, "small", input);
        Files.writeString(dataDir.resolve("small/meta.json"), "{\"vocab_size\": 9}");
        IOException e = assertThrows(IOException.class, () -> PreparedData.load(dataDir, "small"));
        assertTrue(e.getMessage().endsWith("meta.json is damaged or from another version of Quill"
                + " (no \"tokenizer\" field): run 'quill prepare small' again"), e.getMessage());
    }

    @Test
    void isPreparedNeedsMetaJson() throws Exception {
        assertFalse(PreparedData.isPrepared(dataDir, "small"));
        Path input = Files.writeString(dataDir.resolve("in.txt"), "hello, world");
        new DatasetPreparer(new PrintWriter(progress)).prepare(dataDir, "small", input);
        assertTrue(PreparedData.isPrepared(dataDir, "small"));
        Files.delete(dataDir.resolve("small/meta.json"));
        assertFalse(PreparedData.isPrepared(dataDir, "small"));
    }
}
