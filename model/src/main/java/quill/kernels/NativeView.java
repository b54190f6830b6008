package quill.kernels;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * Pointers to native memory that something else owns (an ND4J array, or an {@link Elements}' own memory), made without
 * a deallocator. JavaCPP's copy of a pointer that has one makes a phantom reference each time, which the collector
 * must then process: one per operand of every BLAS call otherwise. The owner is kept reachable by the caller
 * ({@link java.lang.ref.Reference#reachabilityFence}), as before.
 */
final class NativeView {
    private NativeView() {
    }

    /** Element {@code at}, counted in floats from {@code p}'s address, of the floats there. */
    static FloatPointer floats(Pointer p, long at) {
        return new Floats(p).position(at);
    }

    /** Element {@code at}, counted in doubles from {@code p}'s address, of the doubles there. */
    static DoublePointer doubles(Pointer p, long at) {
        return new Doubles(p).position(at);
    }

    private static final class Floats extends FloatPointer {
        Floats(Pointer p) {
            address = p.address();
        }
    }

    private static final class Doubles extends DoublePointer {
        Doubles(Pointer p) {
            address = p.address();
        }
    }
}
