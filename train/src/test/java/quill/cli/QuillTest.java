package quill.cli;

import org.junit.jupiter.api.Test;

import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What {@link Quill#main} does before a command runs, to start sooner: only what the command needs, ND4J early. */
class QuillTest {

    @Test
    void aCommandLineForOneCommandHoldsOnlyThatCommand() {
        assertEquals(Set.of("sample"), Quill.commandLineFor(new String[]{"sample", "--num-samples", "1"})
                .getSubcommands().keySet());
        int all = Quill.commandLine().getSubcommands().size();
        assertEquals(all, Quill.commandLineFor(new String[]{"help", "sample"}).getSubcommands().size());
        assertEquals(all, Quill.commandLineFor(new String[]{"--help"}).getSubcommands().size());
        assertEquals(all, Quill.commandLineFor(new String[]{"nosuch"}).getSubcommands().size());
        assertEquals(all, Quill.commandLineFor(new String[]{}).getSubcommands().size());
        for (var cli : new picocli.CommandLine[]{Quill.commandLine(), Quill.commandLineFor(new String[]{"train"})}) {
            assertTrue(cli.getSubcommands().get("train").getCommandSpec().findOption("--max-iters") != null,
                    "train's flags, which its model transformer makes from TrainConfig");
        }
    }

    @Test
    void everyCommandPrintsQuillsVersion() {
        for (String command : new String[]{"sample", "train", "eval"}) {
            CliRun r = CliRun.quill(command, "-V");
            assertEquals(0, r.exitCode(), r.err());
            assertTrue(r.out().startsWith("quill "), command + " -V printed: '" + r.out() + "'");
        }
    }

    /**
     * ND4J starts beside the option parsing for a sample without the cache (whose whole run is seconds), not for its
     * help, nor for a sample with the cache, which mostly needs no ND4J (FastGpt).
     */
    @Test
    void nd4jStartsEarlyForQuickCommandsButNotForTheirHelp() {
        assertTrue(Quill.startsNd4jEarly(new String[]{"sample", "--no-kv-cache"}));
        assertTrue(Quill.startsNd4jEarly(new String[]{"sample", "--num-samples", "1", "--no-kv-cache"}));
        assertFalse(Quill.startsNd4jEarly(new String[]{"sample"}));
        assertFalse(Quill.startsNd4jEarly(new String[]{"sample", "--num-samples", "1"}));
        assertFalse(Quill.startsNd4jEarly(new String[]{"sample", "--no-kv-cache", "--help"}));
        assertFalse(Quill.startsNd4jEarly(new String[]{"sample", "--no-kv-cache", "-V"}));
        assertFalse(Quill.startsNd4jEarly(new String[]{"eval"}));
        assertFalse(Quill.startsNd4jEarly(new String[]{"train"}));
        assertFalse(Quill.startsNd4jEarly(new String[]{}));
    }
}
