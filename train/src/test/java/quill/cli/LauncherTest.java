package quill.cli;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.tools.ToolProvider;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The {@code ./quill} launcher's own lines, run by bash: its choice of OpenBLAS's kernels (its {@code amd_avx512} test,
 * on made-up {@code /proc/cpuinfo} files, says yes for an AMD processor with AVX-512 only, and the launcher never
 * overrides an {@code OPENBLAS_CORETYPE} already set), and its class-data-sharing archive for samples ({@code
 * with_cds}, on a small jar of its own: recorded by a run that went well, then mapped, recorded again once the jar is
 * newer, never left half-made by a failed run).
 */
class LauncherTest {
    private static final Path LAUNCHER = Path.of("..", "quill");

    private static final String ZEN5 = """
            processor\t: 0
            vendor_id\t: AuthenticAMD
            cpu family\t: 26
            model name\t: AMD EPYC
            flags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512dq avx512ifma avx512cd avx512bw avx512vl avx512vbmi
            """;

    @BeforeEach
    void needsBash() throws InterruptedException {
        boolean bash;
        try {
            bash = new ProcessBuilder("bash", "-c", "true").start().waitFor() == 0;
        } catch (IOException e) {
            bash = false;
        }
        assumeTrue(bash, "the launcher is a bash script, and there is no bash here");
    }

    @Test
    void onlyAnAmdProcessorWithAvx512IsGivenTheAvx512Kernels(@TempDir Path dir) throws Exception {
        assertEquals(0, amdAvx512(dir, ZEN5));
        assertEquals(1, amdAvx512(dir, ZEN5.replace("AuthenticAMD", "GenuineIntel")));     // Intel's: left to OpenBLAS
        assertEquals(1, amdAvx512(dir, ZEN5.replace(" avx512bw", "")));                    // part of AVX-512 only
        assertEquals(1, amdAvx512(dir, ZEN5.replace("avx512vl", "avx512vlx")));            // a flag's prefix is not it
        assertEquals(1, amdAvx512(dir, "processor\t: 0\n"));                               // another format
        assertEquals(1, run("amd_avx512 " + dir.resolve("missing")));                       // no such file
    }

    /** The launcher's own lines, on this machine's processor: a value already set stays; unset, it is its test's. */
    @Test
    void anOpenBlasCoretypeAlreadySetWins() throws Exception {
        String launcher = Files.readString(LAUNCHER, StandardCharsets.UTF_8);
        int start = launcher.indexOf("if [[ -z \"${OPENBLAS_CORETYPE:-}\" ]]");
        String choice = launcher.substring(start, launcher.indexOf('\n', start) + 1);
        String print = choice + "echo \"${OPENBLAS_CORETYPE:-unset}\"";
        assertEquals("Haswell\n", output(print, "Haswell"));
        assertEquals("Barcelona\n", output(print, "Barcelona"));
        String expected = run("amd_avx512 /proc/cpuinfo") == 0 ? "SkylakeX\n" : "unset\n";
        assertEquals(expected, output(print, null));
    }

    /**
     * The first run lists its classes and, having exited well, leaves an archive (and nothing else); the next maps
     * it; a newer jar has it recorded again; a failed run records none and keeps its exit status.
     */
    @Test
    void aSampleRecordsItsClassDataSharingArchiveOnceAndThenMapsIt(@TempDir Path dir) throws Exception {
        Path jar = helloJar(dir);
        Path archive = dir.resolve("hello.jsa");
        Run first = withCds(archive, jar, "0", "");
        assertEquals(0, first.rc, first.output);
        assertTrue(first.output.contains("hello"), first.output);
        assertTrue(Files.size(archive) > 0);
        try (Stream<Path> files = Files.list(dir)) {                     // no class list or half archive left
            assertEquals(0, files.filter(f -> f.getFileName().toString().startsWith("hello.jsa.")).count());
        }
        Run mapped = withCds(archive, jar, "0", "-Xlog:class+load=info");
        assertTrue(mapped.output.contains("Hello source: shared objects file"), mapped.output);

        long now = System.currentTimeMillis();                          // a build after the archive:
        Files.setLastModifiedTime(archive, FileTime.fromMillis(now - 20_000));
        Files.setLastModifiedTime(jar, FileTime.fromMillis(now - 10_000));
        assertEquals(0, withCds(archive, jar, "0", "").rc);
        assertTrue(Files.getLastModifiedTime(archive).compareTo(Files.getLastModifiedTime(jar)) >= 0,
                "recorded again after the new jar");

        Path none = dir.resolve("failed.jsa");
        Run failed = withCds(none, jar, "3", "");
        assertEquals(3, failed.rc, failed.output);
        assertFalse(Files.exists(none));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(0, files.filter(f -> f.getFileName().toString().startsWith("failed.jsa")).count());
        }
    }

    private record Run(int rc, String output) {
    }

    /** The launcher's with_cds on {@code jar}, whose Hello prints "hello" and exits with {@code exitCode}. */
    private static Run withCds(Path archive, Path jar, String exitCode, String javaOpts) throws Exception {
        String launcher = Files.readString(LAUNCHER, StandardCharsets.UTF_8);
        int start = launcher.indexOf("with_cds() {");
        String function = launcher.substring(start, launcher.indexOf("\n}\n", start) + 3);
        ProcessBuilder pb = new ProcessBuilder("bash", "-c", "set -euo pipefail\nopts=(-Xmx64m)\n" + function
                + "with_cds '" + archive + "' '" + jar + "' " + exitCode).redirectErrorStream(true);
        Path javaBin = Path.of(System.getProperty("java.home"), "bin");     // the JDK running the tests
        pb.environment().put("PATH", javaBin + java.io.File.pathSeparator + System.getenv("PATH"));
        pb.environment().put("QUILL_JAVA_OPTS", javaOpts);
        Process p = pb.start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Run(p.waitFor(), output);
    }

    /** A jar whose main class prints "hello" and exits with the status its argument gives, and an empty lib/. */
    private static Path helloJar(Path dir) throws IOException {
        Path src = dir.resolve("src"), classes = dir.resolve("classes");
        Files.createDirectories(src);
        Files.createDirectories(classes);
        Files.createDirectories(dir.resolve("lib"));
        Files.writeString(src.resolve("Hello.java"), "public class Hello { public static void main(String[] a) {"
                + " System.out.println(\"hello\"); System.exit(Integer.parseInt(a[0])); } }");
        assertEquals(0, ToolProvider.getSystemJavaCompiler().run(null, null, null, "-d", classes.toString(),
                src.resolve("Hello.java").toString()));
        Manifest manifest = new Manifest();
        manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        manifest.getMainAttributes().put(Attributes.Name.MAIN_CLASS, "Hello");
        Path jar = dir.resolve("hello.jar");
        try (OutputStream out = Files.newOutputStream(jar); JarOutputStream j = new JarOutputStream(out, manifest)) {
            j.putNextEntry(new JarEntry("Hello.class"));
            j.write(Files.readAllBytes(classes.resolve("Hello.class")));
            j.closeEntry();
        }
        return jar;
    }

    private static int amdAvx512(Path dir, String cpuinfo) throws Exception {
        Path file = dir.resolve("cpuinfo");
        Files.writeString(file, cpuinfo, StandardCharsets.UTF_8);
        return run("amd_avx512 '" + file + "'");
    }

    /** Runs {@code command} in bash after the launcher's definition of amd_avx512; its exit status. */
    private static int run(String command) throws Exception {
        Process p = bash(command, null);
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int rc = p.waitFor();
        assertEquals("", output, "amd_avx512 prints nothing");
        return rc;
    }

    /** What {@code command} prints, run as {@link #run} does with OPENBLAS_CORETYPE set to {@code coretype} or unset. */
    private static String output(String command, String coretype) throws Exception {
        Process p = bash(command, coretype);
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), output);
        return output;
    }

    private static Process bash(String command, String coretype) throws IOException {
        String launcher = Files.readString(LAUNCHER, StandardCharsets.UTF_8);
        int start = launcher.indexOf("amd_avx512() {");
        String function = launcher.substring(start, launcher.indexOf("\n}\n", start) + 3);
        ProcessBuilder pb = new ProcessBuilder("bash", "-c", "set -euo pipefail\n" + function + command)
                .redirectErrorStream(true);
        if (coretype == null) pb.environment().remove("OPENBLAS_CORETYPE");
        else pb.environment().put("OPENBLAS_CORETYPE", coretype);
        return pb.start();
    }
}
