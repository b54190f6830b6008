package quill.interop;

import java.util.Arrays;

/**
 * A tensor as it travels through a PyTorch checkpoint ({@link TorchFile}): its shape, contiguous in C order, and
 * its values as floats.
 *
 * @param dtype  PyTorch's name of the type it is stored in: {@code float32}, {@code bfloat16}, {@code float16},
 *               {@code float64}, {@code int64}, ... ({@link TorchFile} writes only float32 and reads them all,
 *               converting to float)
 * @param shape  the sizes, outermost first; empty for a scalar (a 0-d tensor such as AdamW's {@code step})
 * @param values every element, the last axis varying fastest
 */
public record TorchTensor(String dtype, long[] shape, float[] values) {

    public TorchTensor {
        if (numel(shape) != values.length) {
            throw new IllegalArgumentException("a tensor of shape " + Arrays.toString(shape) + " has " + numel(shape)
                    + " elements, got " + values.length);
        }
    }

    /** A float32 tensor. */
    public static TorchTensor of(long[] shape, float[] values) {
        return new TorchTensor("float32", shape, values);
    }

    /** A float32 scalar, a 0-d tensor. */
    public static TorchTensor scalar(float value) {
        return of(new long[0], new float[]{value});
    }

    /** The number of elements of a tensor of this shape: the product of the sizes (1 for a scalar). */
    static long numel(long[] shape) {
        long n = 1;
        for (long s : shape) n *= s;
        return n;
    }

    @Override
    public String toString() {
        return "tensor(" + dtype + ", " + Arrays.toString(shape) + ")";
    }
}
