package quill.train;

import quill.kernels.Elements;
import quill.runtime.Parallel;
import quill.autograd.Parameter;
import quill.random.Rng;
import quill.runtime.Backend;
import quill.model.Gpt;
import quill.model.GptHooks;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Data parallelism inside one process, the way PyTorch's DistributedDataParallel works across GPUs: each
 * worker holds a replica of the model (the same weights, gradients of its own) and runs forward and backward
 * on its share of the batch's rows, on a thread of its own; then the replicas' gradients are summed into
 * the model's. Because the loss is a mean over rows, worker k's loss is weighted by its share of rows,
 * rows_k / B, and the sum of the weighted gradients is the gradient of the whole batch.
 *
 * <p>Why: at nanoGPT's CPU sizes a matrix product of 768 rows is too small for two BLAS threads to share
 * well, and every other op (layer norm, GELU, softmax) runs on one thread anyway. Two workers with one
 * thread each keep both cores busy for the whole step, every op included.
 *
 * <p>Worker 0 is the model itself, on the calling thread. Every worker's ND4J, OpenBLAS and kernel threads
 * are set to one, until {@link #close} gives the calling thread its thread count back (a notebook that
 * trained a model then runs its other cells with every core again). Between batches the workers are idle, so the sums
 * of the gradients, the copies of the
 * weights and the optimizer step ({@link TrainingStep}) share the parameters among all the cores instead.
 *
 * <p>The result equals the single-threaded step up to float rounding (the gradients are summed in another
 * order), and is the same from run to run: the rows are split and the sums taken in a fixed order.
 */
public final class DataParallel implements AutoCloseable {
    private final Gpt model;
    private final List<Gpt> replicas = new ArrayList<>();          // workers 1..n-1
    private final List<List<Parameter>> replicaParams = new ArrayList<>();
    private final List<ExecutorService> threads = new ArrayList<>();
    private final List<Parameter> params;
    private final long[] lengths;
    /** Per chunk of the between-batch work (at most one per worker): three blocks, allocated once. */
    private final double[][][] scratch;
    /** The calling thread's ND4J thread count before training, restored by {@link #close}. */
    private final int threadsBefore;

    /** {@code workers} workers for {@code model}, at least one; with one, everything runs on the calling thread. */
    public DataParallel(Gpt model, int workers) {
        if (workers < 1) throw new IllegalArgumentException("threads must be at least 1, got " + workers);
        this.model = model;
        this.params = List.copyOf(model.trainable().values());   // frozen weights: equal in every replica, no gradient
        this.lengths = params.stream().mapToLong(p -> p.value().length()).toArray();
        this.scratch = new double[workers][3][Elements.BLOCK];
        this.threadsBefore = Backend.threads();
        Backend.setThreads(1);
        for (int k = 1; k < workers; k++) {
            Gpt replica = GptHooks.replica(model);
            replicas.add(replica);
            replicaParams.add(List.copyOf(replica.trainable().values()));
            int id = k;
            ExecutorService thread = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "quill-worker-" + id);
                t.setDaemon(true);
                return t;
            });
            threads.add(thread);
            await(thread.submit(() -> Backend.setThreads(1)));   // OpenMP's thread count is per thread
        }
    }

    /** The model being trained: worker 0, whose gradients receive the sum. */
    public Gpt model() {
        return model;
    }

    /** One worker per core, but no more than a batch has rows. */
    public static int defaultWorkers(int batchSize) {
        return Math.max(1, Math.min(Runtime.getRuntime().availableProcessors(), batchSize));
    }

    /** How many workers share a batch. */
    public int workers() {
        return replicas.size() + 1;
    }

    /**
     * Forward and backward over the batch (x, y), its rows split between the workers: adds
     * d(lossScale * loss)/d parameter into the model's gradients, as {@link Gpt#forwardBackward} does,
     * and returns the mean loss over the whole batch.
     */
    public double forwardBackward(int[][] x, int[][] y, double lossScale) {
        int n = Math.min(workers(), x.length);
        if (n == 1) return model.forwardBackward(x, y, lossScale);
        copyWeights();
        int[] from = split(x.length, n);
        List<Future<Double>> results = new ArrayList<>();
        for (int k = 1; k < n; k++) {
            Gpt replica = replicas.get(k - 1);
            replica.setTraining(model.isTraining());
            // a dropout stream per worker, drawn afresh each batch from the model's (whose state is checkpointed)
            long state = new Rng(GptHooks.dropoutState(model) ^ k * 0x9E3779B97F4A7C15L).nextLong();
            GptHooks.setDropoutState(replica, state);
            int[][] xk = Arrays.copyOfRange(x, from[k], from[k + 1]);
            int[][] yk = Arrays.copyOfRange(y, from[k], from[k + 1]);
            double share = (double) xk.length / x.length;
            results.add(threads.get(k - 1).submit(() -> share * replica.forwardBackward(xk, yk, lossScale * share)));
        }
        double share = (double) from[1] / x.length;
        double loss = share * model.forwardBackward(Arrays.copyOfRange(x, 0, from[1]),
                Arrays.copyOfRange(y, 0, from[1]),
                lossScale * share);
        for (Future<Double> r : results) loss += await(r);
        sumGradients(replicaParams.subList(0, n - 1));
        return loss;
    }

    /** The loss of each batch (no dropout, no gradients), the batches spread over the workers. */
    public double[] losses(List<int[][]> xs, List<int[][]> ys) {
        copyWeights();
        double[] losses = new double[xs.size()];
        List<Future<?>> running = new ArrayList<>();
        for (int k = 1; k < workers(); k++) {
            Gpt replica = replicas.get(k - 1);
            int first = k;
            running.add(threads.get(k - 1).submit(() -> {
                for (int i = first; i < xs.size(); i += workers()) losses[i] = replica.loss(xs.get(i), ys.get(i));
            }));
        }
        for (int i = 0; i < xs.size(); i += workers()) losses[i] = model.loss(xs.get(i), ys.get(i));
        for (Future<?> r : running) await(r);
        return losses;
    }

    /**
     * The model's gradients plus every replica's, whose gradients go back to zero. The other workers are idle
     * meanwhile, so the parameters are shared among all the threads; each element is summed in worker order.
     */
    private void sumGradients(List<List<Parameter>> replicas) {
        Parallel.withThreads(workers(),
                () -> Parallel.rangeOver(lengths, 8 * Elements.BLOCK, (chunk, i, start, end) -> {
            Elements sum = new Elements(params.get(i).grad());
            List<Elements> grads = replicas.stream().map(theirs -> new Elements(theirs.get(i).grad())).toList();
            double[] total = scratch[chunk][0], g = scratch[chunk][1],
                    zeros = scratch[chunk][2];   // zeros is never written
            for (int from = start; from < end; from += Elements.BLOCK) {
                int len = Math.min(Elements.BLOCK, end - from);
                sum.get(from, total, len);
                for (Elements grad : grads) {
                    grad.get(from, g, len);
                    for (int k = 0; k < len; k++) total[k] += g[k];
                    grad.put(from, zeros, len);
                }
                sum.put(from, total, len);
            }
        }));
    }

    /** The replicas take the model's current weights (an optimizer step or a loaded checkpoint changed them). */
    private void copyWeights() {
        Parallel.withThreads(workers(),
                () -> Parallel.rangeOver(lengths, 8 * Elements.BLOCK, (chunk, i, start, end) -> {
            Elements weights = new Elements(params.get(i).value());
            List<Elements> copies = replicaParams.stream().map(theirs -> new Elements(theirs.get(i).value())).toList();
            double[] w = scratch[chunk][0];
            for (int from = start; from < end; from += Elements.BLOCK) {
                int len = Math.min(Elements.BLOCK, end - from);
                weights.get(from, w, len);
                for (Elements copy : copies) copy.put(from, w, len);
            }
        }));
    }

    /** Where each of {@code n} workers' rows start: as even as can be, the first workers taking the extra. */
    private static int[] split(int rows, int n) {
        int[] from = new int[n + 1];
        for (int k = 0; k < n; k++) from[k + 1] = from[k] + rows / n + (k < rows % n ? 1 : 0);
        return from;
    }

    private static <T> T await(Future<T> f) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while a worker was running", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            if (e.getCause() instanceof Error err) throw err;
            throw new IllegalStateException(e.getCause());
        }
    }

    @Override
    public void close() {
        threads.forEach(ExecutorService::shutdownNow);
        Backend.setThreads(threadsBefore);
    }
}
