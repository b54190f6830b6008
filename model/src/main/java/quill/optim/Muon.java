package quill.optim;

import quill.io.Npy;
import quill.runtime.StepMemory;

import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import quill.runtime.Parallel;
import quill.autograd.Parameter;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * Muon, "MomentUm Orthogonalized by Newton-Schulz": K. Jordan et al., 2024
 * (https://kellerjordan.github.io/posts/muon/, github.com/KellerJordan/Muon), the optimizer of modded-nanogpt's
 * speed records. For a 2-D weight it takes SGD's momentum and replaces the update by the nearest
 * semi-orthogonal matrix: every singular value of the update becomes about 1, so directions the gradient
 * barely visits get as large a step as the dominant ones. For a weight p with gradient g and momentum buffer
 * buf (zeros at first), with m = momentum:
 * <pre>
 *   buf = m * buf + (1 - m) * g
 *   u   = (1 - m) * g + m * buf          with Nesterov, else u = buf
 *   u   = NS5(u) * sqrt(max(1, rows / cols))
 *   p   = p * (1 - lr * weightDecay) - lr * u
 * </pre>
 * {@code NS5} is five steps of a quintic Newton-Schulz iteration ({@link #orthogonalize}). Muon is only for
 * the hidden 2-D weights (here every {@code transformer.h.*} matrix: {@code c_attn}, {@code c_proj},
 * {@code c_fc}); embeddings, {@code lm_head}, norms and biases stay with AdamW ({@link MuonAdamW}).
 *
 * <ul>
 *   <li>{@code lr}: the step's size in units of an orthogonal matrix (modded-nanogpt: about 0.02-0.05).</li>
 *   <li>{@code momentum}: how long gradients are averaged (0.95).</li>
 *   <li>{@code nesterov}: look ahead along the momentum (true, as the reference).</li>
 *   <li>{@code nsSteps}: Newton-Schulz iterations (5); fewer is cheaper and less orthogonal.</li>
 *   <li>{@code weightDecay}: decoupled, as AdamW's (0 in the reference).</li>
 * </ul>
 */
public final class Muon {
    /** The quintic's coefficients, chosen by Jordan et al. to push singular values into about [0.7, 1.2] fast. */
    private static final double A = 3.4445, B = -4.7750, C = 2.0315;

    private static final String WORKSPACE = "quill-muon";

    private final double momentum, weightDecay;
    private final boolean nesterov;
    private final int nsSteps;
    private final List<Parameter> params = new ArrayList<>();
    private final List<INDArray> buffers = new ArrayList<>();

    public Muon(Collection<Parameter> params, double momentum, boolean nesterov, int nsSteps, double weightDecay) {
        new Settings(momentum, nesterov, nsSteps, weightDecay).check();
        this.momentum = momentum;
        this.nesterov = nesterov;
        this.nsSteps = nsSteps;
        this.weightDecay = weightDecay;
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            for (Parameter p : params) {
                if (p.rank() != 2) throw new IllegalArgumentException("Muon updates 2-D weights only, not " + p.name());
                this.params.add(p);
                buffers.add(Nd4j.zeros(p.dataType(), p.shape()));
            }
        }
    }

    /** Muon's settings besides the learning rate; see the class comment. */
    public record Settings(double momentum, boolean nesterov, int nsSteps, double weightDecay) {
        /** Fails, naming the setting, on a value Muon cannot use. */
        public void check() {
            if (!(momentum >= 0 && momentum < 1)) {
                throw new IllegalArgumentException("muon-momentum must be in [0, 1), got " + momentum);
            }
            if (nsSteps < 1) throw new IllegalArgumentException("muon-ns-steps must be at least 1, got " + nsSteps);
            if (!(weightDecay >= 0)) {
                throw new IllegalArgumentException("muon-weight-decay must not be negative, got " + weightDecay);
            }
        }
    }

    /** Whether Muon, rather than AdamW, updates {@code p}: a matrix inside the blocks. */
    public static boolean updates(Parameter p) {
        return p.rank() == 2 && p.name().startsWith("transformer.h.");
    }

    /**
     * One update of every parameter from its gradient, at learning rate {@code lr}. The matrices are independent,
     * so they are shared among {@link Parallel#threads()} threads (in training, the cores the workers leave idle
     * while the optimizer steps), each with single-threaded products: the same arithmetic as one after another.
     */
    public void step(double lr) {
        Parallel.range(params.size(), 1, (chunk, from, to) -> {
            // the step's temporaries (u, the Newton-Schulz products) in a reused workspace of this thread's; p and
            // buf, outside it, are only updated in place
            try (MemoryWorkspace ignored = StepMemory.open(WORKSPACE)) {
                for (int i = from; i < to; i++) update(params.get(i), buffers.get(i), lr);
            }
        });
    }

    private void update(Parameter p, INDArray buf, double lr) {
        INDArray g = p.grad();
        buf.muli(momentum).addi(g.mul(1 - momentum));                                  // buf = m buf + (1 - m) g
        INDArray u = nesterov ? g.mul(1 - momentum).addi(buf.mul(momentum)) : buf.dup(); // u = (1 - m) g + m buf
        long rows = p.size(0), cols = p.size(1);
        INDArray o = orthogonalize(u, nsSteps).muli(Math.sqrt(Math.max(1.0, (double) rows / cols)));
        if (weightDecay != 0) p.value().muli(1 - lr * weightDecay);                     // p = p (1 - lr wd)
        p.value().subi(o.muli(lr));                                                     //     - lr u
    }

    /**
     * NS5: {@code X = G / (|G|_F + 1e-7)}, then {@code steps} times {@code A = X X^T; B = b A + c A A; X = a X + B X},
     * on the wide orientation (transposed when rows > cols, so X X^T is the smaller square), transposed back.
     * Each step maps every singular value s of X to {@code a s + b s^3 + c s^5}; starting at most 1 (the
     * Frobenius norm bounds the largest), they all move toward 1: X becomes about U V^T of G's SVD.
     */
    public static INDArray orthogonalize(INDArray g, int steps) {
        boolean tall = g.size(0) > g.size(1);
        INDArray x = (tall ? g.transpose() : g).dup('c');
        x.divi(x.norm2Number().doubleValue() + 1e-7);                                 // X = G / (|G|_F + eps)
        long r = x.size(0);
        INDArray a = Nd4j.createUninitialized(x.dataType(), new long[]{r, r}, 'c');
        INDArray b = Nd4j.createUninitialized(x.dataType(), new long[]{r, r}, 'c');
        INDArray next = Nd4j.createUninitialized(x.dataType(), x.shape(), 'c');
        for (int s = 0; s < steps; s++) {
            Nd4j.gemm(x, x, a, false, true, 1.0, 0.0);                                 // A = X X^T
            b.assign(a).muli(B);
            Nd4j.gemm(a, a, b, false, false, C, 1.0);                                  // B = b A + c A A
            next.assign(x).muli(A);
            Nd4j.gemm(b, x, next, false, false, 1.0, 1.0);                             // X = a X + B X
            INDArray t = x;
            x = next;
            next = t;
        }
        return tall ? x.transpose().dup('c') : x;
    }

    /** Writes {@code <name>.momentum_buffer.npy} per parameter (torch's name for it). */
    public void save(Path dir) throws IOException {
        Files.createDirectories(dir);
        for (int i = 0; i < params.size(); i++) {
            Npy.write(buffers.get(i), dir.resolve(params.get(i).name() + ".momentum_buffer.npy"));
        }
    }

    /** Reads what {@link #save} wrote; every file must be there with the right shape, else nothing changes. */
    public void load(Path dir) throws IOException {
        List<INDArray> loaded = new ArrayList<>();
        for (Parameter p : params) loaded.add(Npy.read(dir.resolve(p.name() + ".momentum_buffer.npy"), p.shape()));
        for (int i = 0; i < params.size(); i++) buffers.get(i).assign(loaded.get(i).castTo(buffers.get(i).dataType()));
    }
}
