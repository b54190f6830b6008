package quill.optim;

import quill.autograd.Parameter;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Muon for the hidden matrices and AdamW for everything else (embeddings, {@code lm_head}, norms, biases), as
 * modded-nanogpt trains: {@link Muon#updates} decides which. The schedule's learning rate is AdamW's; Muon's
 * follows the same curve scaled to its own peak: {@code muonLr * lr / learningRate}.
 */
public final class MuonAdamW implements Optimizer {
    private final Muon muon;
    private final AdamW adamW;
    private final double muonLr, learningRate;

    /**
     * @param learningRate AdamW's peak learning rate (the schedule's), to scale Muon's with
     * @param muonLr       Muon's peak learning rate
     */
    public MuonAdamW(Map<String, Parameter> params, Muon.Settings muon, double muonLr, double learningRate,
                     double beta1,
                     double beta2, double eps, double weightDecay) {
        Map<String, Parameter> rest = new LinkedHashMap<>();
        params.forEach((name, p) -> {
            if (!Muon.updates(p)) rest.put(name, p);
        });
        List<Parameter> matrices = params.values().stream().filter(Muon::updates).toList();
        this.muon = new Muon(matrices, muon.momentum(), muon.nesterov(), muon.nsSteps(), muon.weightDecay());
        this.adamW = new AdamW(rest, beta1, beta2, eps, weightDecay);
        this.muonLr = muonLr;
        this.learningRate = learningRate;
    }

    @Override
    public void step(double lr) {
        muon.step(muonLr * lr / learningRate);
        adamW.step(lr);
    }

    @Override
    public void save(Path dir) throws IOException {
        adamW.save(dir);
        muon.save(dir);
    }

    @Override
    public void load(Path dir) throws IOException {
        muon.load(dir);
        adamW.load(dir);
    }
}
