package quill.cli;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The {@code ./quill} launcher's choice of OpenBLAS's kernels: its {@code amd_avx512} test, run by bash on made-up
 * {@code /proc/cpuinfo} files, says yes for an AMD processor with AVX-512 only, and the launcher never overrides an
 * {@code OPENBLAS_CORETYPE} already set.
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
