package quill.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

    @Test
    void onlyAnAmdProcessorWithAvx512IsGivenTheAvx512Kernels(@TempDir Path dir) throws Exception {
        assertEquals(0, amdAvx512(dir, ZEN5));
        assertEquals(1, amdAvx512(dir, ZEN5.replace("AuthenticAMD", "GenuineIntel")));     // OpenBLAS knows its own
        assertEquals(1, amdAvx512(dir, ZEN5.replace(" avx512bw", "")));                    // part of AVX-512 only
        assertEquals(1, amdAvx512(dir, ZEN5.replace("avx512vl", "avx512vlx")));            // a flag's prefix is not it
        assertEquals(1, amdAvx512(dir, "processor\t: 0\n"));                               // another format
        assertEquals(1, run("amd_avx512 " + dir.resolve("missing")));                       // no such file
    }

    @Test
    void anOpenBlasCoretypeAlreadySetWins() throws IOException {
        String launcher = Files.readString(LAUNCHER, StandardCharsets.UTF_8);
        assertTrue(launcher.contains("if [[ -z \"${OPENBLAS_CORETYPE:-}\" ]] && amd_avx512 /proc/cpuinfo; then"
                + " export OPENBLAS_CORETYPE=SkylakeX; fi"), "the launcher's one use of amd_avx512");
    }

    private static int amdAvx512(Path dir, String cpuinfo) throws Exception {
        Path file = dir.resolve("cpuinfo");
        Files.writeString(file, cpuinfo, StandardCharsets.UTF_8);
        return run("amd_avx512 '" + file + "'");
    }

    /** Runs {@code command} in bash after the launcher's definition of amd_avx512; its exit status. */
    private static int run(String command) throws Exception {
        String launcher = Files.readString(LAUNCHER, StandardCharsets.UTF_8);
        int start = launcher.indexOf("amd_avx512() {");
        String function = launcher.substring(start, launcher.indexOf("\n}\n", start) + 3);
        Process p = new ProcessBuilder("bash", "-c", "set -euo pipefail\n" + function + command)
                .redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int rc = p.waitFor();
        assertEquals("", output, "amd_avx512 prints nothing");
        return rc;
    }
}
