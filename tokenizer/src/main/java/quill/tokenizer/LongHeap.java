package quill.tokenizer;

import java.util.Arrays;

/**
 * A binary min-heap of longs: a {@code PriorityQueue<Long>} without a boxed Long per entry. For the
 * short chunks a split pattern makes.
 */
final class LongHeap implements MergeQueue {
    private long[] heap = new long[16];
    private int size;

    @Override
    public boolean isEmpty() {
        return size == 0;
    }

    @Override
    public void add(long value) {
        if (size == heap.length) heap = Arrays.copyOf(heap, 2 * size);
        int i = size++;
        while (i > 0 && heap[(i - 1) / 2] > value) { // move parents down until value fits
            heap[i] = heap[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        heap[i] = value;
    }

    @Override
    public long poll() {
        long top = heap[0];
        long last = heap[--size];
        int i = 0;
        while (2 * i + 1 < size) { // move the smaller child up until last fits
            int child = 2 * i + 1;
            if (child + 1 < size && heap[child + 1] < heap[child]) child++;
            if (heap[child] >= last) break;
            heap[i] = heap[child];
            i = child;
        }
        heap[i] = last;
        return top;
    }
}
