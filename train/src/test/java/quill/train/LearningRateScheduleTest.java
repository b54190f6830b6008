package quill.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Values of nanoGPT's get_lr for the shakespeare_char_cpu settings, worked out by hand. */
class LearningRateScheduleTest {
    private final LearningRateSchedule cpu = new LearningRateSchedule(1e-3, 100, 2000, 1e-4, true);

    @Test
    void warmsUpLinearly() {
        assertEquals(1e-3 * 1 / 101, cpu.at(0), 1e-15);
        assertEquals(1e-3 * 50 / 101, cpu.at(49), 1e-15);
        assertEquals(1e-3 * 100 / 101, cpu.at(99), 1e-15);
    }

    @Test
    void decaysAlongACosine() {
        assertEquals(1e-3, cpu.at(100), 1e-15); // the peak
        assertEquals(1e-4 + 0.5 * 9e-4, cpu.at(1050), 1e-15); // half-way: cos(pi/2) = 0
        double quarter = 1e-4 + 0.5 * (1 + Math.cos(Math.PI * 0.25)) * 9e-4;
        assertEquals(quarter, cpu.at(100 + 475), 1e-15);
    }

    @Test
    void staysAtTheFloorAfterTheDecay() {
        assertEquals(1e-4, cpu.at(2000), 1e-15);
        assertEquals(1e-4, cpu.at(2001), 1e-15);
        assertEquals(1e-4, cpu.at(100_000), 1e-15);
    }

    @Test
    void isConstantWithoutDecay() {
        LearningRateSchedule constant = new LearningRateSchedule(1e-3, 100, 2000, 1e-4, false);
        for (int it : new int[]{0, 50, 100, 1050, 5000}) assertEquals(1e-3, constant.at(it));
    }
}
