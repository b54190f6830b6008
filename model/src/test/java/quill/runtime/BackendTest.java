package quill.runtime;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** ND4J started on a thread of its own ({@link Backend#startInBackground}) is ready when {@code awaitStart} returns. */
class BackendTest {

    @Test
    void nd4jStartedInTheBackgroundIsReadyAfterAwaitStart() {
        Backend.startInBackground();
        Backend.startInBackground();                          // a second call starts nothing more
        Backend.awaitStart();
        Backend.awaitStart();                                 // and waiting again returns at once
        Backend.setThreads(1);
        assertEquals(6.0, Nd4j.create(new float[]{1, 2, 3}).sumNumber().doubleValue(), 0);
        assertEquals(DataType.FLOAT, Nd4j.create(DataType.FLOAT, 1).dataType());
    }
}
