package quill.checkpoint;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RunLockTest {

    @TempDir
    Path tmp;

    /** A second holder is refused with the first one's process id; the lock of a killed process does not block. */
    @Test
    void anotherProcessIsNamedAndAKilledOneDoesNotBlock() throws Exception {
        Path run = tmp.resolve("run");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process holder = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                Holder.class.getName(), run.toString()).redirectErrorStream(true).start();
        try {
            BufferedReader lines = new BufferedReader(
                    new InputStreamReader(holder.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("locked", lines.readLine());
            IOException e = assertThrows(IOException.class, () -> RunLock.acquire(run, "quill train"));
            assertTrue(e.getMessage().contains(run + " is in use by process " + holder.pid() + " (quill test"),
                    e.getMessage());
        } finally {
            holder.destroyForcibly(); // SIGKILL: no chance to release anything
            holder.waitFor(30, TimeUnit.SECONDS);
        }
        try (RunLock lock = RunLock.acquire(run, "quill train")) {
            assertTrue(lock.toString().contains("process " + ProcessHandle.current().pid()), lock.toString());
        }
    }

    @Test
    void theSameProcessCannotTakeItTwice() throws IOException {
        try (RunLock first = RunLock.acquire(tmp, "quill train")) {
            IOException e = assertThrows(IOException.class, () -> RunLock.acquire(tmp, "quill train"));
            assertTrue(e.getMessage().contains("in use by process " + ProcessHandle.current().pid()), e.getMessage());
        }
        RunLock.acquire(tmp, "quill train").close(); // released
    }

    /** Takes the lock of the folder given, says so, and waits to be killed. */
    public static final class Holder {
        public static void main(String[] args) throws Exception {
            RunLock.acquire(Path.of(args[0]), "quill test");
            System.out.println("locked");
            System.out.flush();
            Thread.sleep(120_000);
        }
    }
}
