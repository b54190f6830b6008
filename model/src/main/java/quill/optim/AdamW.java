package quill.optim;

import quill.io.Npy;
import quill.kernels.AdamWKernel;
import quill.model.LayerNorm;

import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import quill.kernels.Elements;
import quill.runtime.Parallel;
import quill.autograd.Parameter;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * Adam with decoupled weight decay: I. Loshchilov and F. Hutter, "Decoupled Weight Decay Regularization",
 * ICLR 2019 (arXiv:1711.05101), computed exactly as {@code torch.optim.AdamW}. For each parameter p with
 * gradient g, at step t:
 * <pre>
 *   p  = p * (1 - lr * weightDecay)            only for weights with 2 or more dimensions
 *   m  = beta1 * m + (1 - beta1) * g           first moment: a running mean of the gradient
 *   v  = beta2 * v + (1 - beta2) * g^2         second moment: a running mean of its square
 *   p -= lr / (1 - beta1^t) * m / (sqrt(v / (1 - beta2^t)) + eps)
 * </pre>
 * The divisions by {@code 1 - beta^t} undo the moments' bias toward their zero start.
 *
 * <ul>
 *   <li>{@code beta1}: how long the gradient is averaged (0.9: about the last 10 steps).</li>
 *   <li>{@code beta2}: how long its square is averaged (0.99 or 0.999); sets each weight's step size.</li>
 *   <li>{@code eps}: added to sqrt(v), outside the root as PyTorch does, so tiny v cannot blow a step up.</li>
 *   <li>{@code weightDecay}: shrinks weights toward 0 by lr * weightDecay of themselves each step,
 *       decoupled from the gradient (unlike L2 in Adam); biases and LayerNorm gains are not decayed.</li>
 * </ul>
 * Moments live outside ND4J workspaces; a step is one pass over each parameter's elements.
 */
public final class AdamW implements Optimizer {
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private final List<State> states = new ArrayList<>();
    private int steps;

    /** One parameter and its two moments. */
    private record State(Parameter param, INDArray m, INDArray v) {
    }

    public AdamW(Map<String, Parameter> params, double beta1, double beta2, double eps, double weightDecay) {
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
            throw new IllegalArgumentException("AdamW betas must be in [0, 1), got " + beta1 + " and " + beta2);
        }
        if (!(eps > 0) || !(weightDecay >= 0)) {
            throw new IllegalArgumentException("AdamW needs eps > 0 and weightDecay >= 0, got " + eps + " and "
                    + weightDecay);
        }
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            for (Parameter p : params.values()) {
                states.add(new State(p, Nd4j.zeros(p.dataType(), p.shape()), Nd4j.zeros(p.dataType(), p.shape())));
            }
        }
    }

    /** One update of every parameter from its current gradient, at learning rate {@code lr}. */
    @Override
    public void step(double lr) {
        steps++;
        double bias1 = 1 - Math.pow(beta1, steps);
        double bias2Sqrt = Math.sqrt(1 - Math.pow(beta2, steps));
        double stepSize = lr / bias1;
        int n = states.size();
        Elements[] pe = new Elements[n], ge = new Elements[n], me = new Elements[n], ve = new Elements[n];
        long[] lengths = new long[n];
        for (int i = 0; i < n; i++) {
            State s = states.get(i);
            pe[i] = new Elements(s.param.value());
            ge[i] = new Elements(s.param.grad());
            me[i] = new Elements(s.m);
            ve[i] = new Elements(s.v);
            lengths[i] = pe[i].length();
        }
        // every element's update is independent: the parameters, end to end, are shared among the threads
        Parallel.rangeOver(lengths, 8 * Elements.BLOCK, (chunk, i, start, end) -> {
            double decay = states.get(i).param.rank() >= 2
                    ? 1 - lr * weightDecay : 1;   // decoupled weight decay, weights only
            // m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  p = p decay - lr / (1 - b1^t) m / denom,
            // denom = sqrt(v / (1 - b2^t)) + eps
            AdamWKernel.update(pe[i], ge[i], me[i], ve[i], beta1, beta2, eps, decay, stepSize, bias2Sqrt, start, end);
        });
    }

    /**
     * Scales all gradients down together so their global L2 norm is at most {@code maxNorm}, as
     * torch.nn.utils.clip_grad_norm_ (factor maxNorm / (norm + 1e-6)); returns the norm before clipping.
     */
    public static double clipGradNorm(Collection<Parameter> params, double maxNorm) {
        List<Elements> grads = new ArrayList<>();
        for (Parameter p : params) grads.add(new Elements(p.grad()));
        long[] lengths = grads.stream().mapToLong(Elements::length).toArray();
        double[] partial = new double[Parallel.threads()];                        // one per chunk, at most
        Parallel.rangeOver(lengths, 8 * Elements.BLOCK, (chunk, i, start, end) -> {
            partial[chunk] += AdamWKernel.sumOfSquares(grads.get(i), start, end);  // sum g^2, in double
        });
        double sumSq = 0;
        for (double s : partial) sumSq += s;                                       // in chunk order
        double norm = Math.sqrt(sumSq);
        double factor = maxNorm / (norm + 1e-6);
        if (factor < 1) for (Parameter p : params) p.grad().muli(factor);
        return norm;
    }

    /** Updates taken so far (t in the bias corrections). */
    public int steps() {
        return steps;
    }

    /** Writes {@code <name>.exp_avg.npy} and {@code <name>.exp_avg_sq.npy} per parameter, and adamw.properties. */
    @Override
    public void save(Path dir) throws IOException {
        Files.createDirectories(dir);
        for (State s : states) {
            Npy.write(s.m, dir.resolve(s.param.name() + ".exp_avg.npy"));
            Npy.write(s.v, dir.resolve(s.param.name() + ".exp_avg_sq.npy"));
        }
        Properties props = new Properties();
        props.setProperty("steps", Integer.toString(steps));
        props.setProperty("beta1", Double.toString(beta1));
        props.setProperty("beta2", Double.toString(beta2));
        props.setProperty("eps", Double.toString(eps));
        props.setProperty("weight_decay", Double.toString(weightDecay));
        Path tmp = dir.resolve("adamw.properties.tmp");
        try (OutputStream out = Files.newOutputStream(tmp)) {
            props.store(out, "AdamW state; the moments are the .npy files beside this one");
        }
        Files.move(tmp, dir.resolve("adamw.properties"), StandardCopyOption.REPLACE_EXISTING,
                StandardCopyOption.ATOMIC_MOVE);
    }

    /** Reads what {@link #save} wrote; every file must be there with the right shape, else nothing changes. */
    @Override
    public void load(Path dir) throws IOException {
        Path propsFile = dir.resolve("adamw.properties");
        if (!Files.isRegularFile(propsFile)) throw new IOException("missing file " + propsFile);
        Properties props = new Properties();
        try (InputStream in = Files.newInputStream(propsFile)) {
            props.load(in);
        }
        int loadedSteps;
        try {
            loadedSteps = Integer.parseInt(props.getProperty("steps", ""));
        } catch (NumberFormatException e) {
            throw new IOException(propsFile + " has no valid 'steps' entry");
        }
        List<INDArray> moments = new ArrayList<>();
        for (State s : states) {
            moments.add(Npy.read(dir.resolve(s.param.name() + ".exp_avg.npy"), s.param.shape()));
            moments.add(Npy.read(dir.resolve(s.param.name() + ".exp_avg_sq.npy"), s.param.shape()));
        }
        for (int i = 0; i < states.size(); i++) {
            State s = states.get(i);
            s.m.assign(moments.get(2 * i).castTo(s.m.dataType()));
            s.v.assign(moments.get(2 * i + 1).castTo(s.v.dataType()));
        }
        steps = loadedSteps;
    }
}
