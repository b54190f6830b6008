"""Replays the AdamW reference dumps in PyTorch in float32, to see what float32 itself reaches on them.

The dumps in ../shared/reference were computed in float64. This script runs the same model and the same ten
AdamW steps in float32, 31 times per dump: once from the dump's parameters, then 30 times with every initial
parameter moved by one float32 ulp, up or down at random (another float32 implementation rounds differently;
this is that difference, made on purpose). For each trial it reports the largest relative error over the
parameters after the steps, the measure `quill check-reference` prints. It backs README, "Checking against
PyTorch". Needs Debian's python3-torch (../shared/peer/setup.sh installs it):

    /usr/bin/python3 docs/replay_float32.py ../shared/reference
"""
import glob, json, math, os, sys
import numpy as np
import torch

torch.set_num_threads(1)


def replay(d, dtype, jitter=None):
    """Largest relative error after the steps, and its tensor; None for a Muon dump."""
    cfg = json.load(open(f"{d}/config.json")); m = cfg["model"]; o = cfg["optimizer"]
    if o.get("name", "adamw") != "adamw": return None
    P = {}
    for f in sorted(glob.glob(f"{d}/params/*.npy")):
        a = np.load(f).astype(np.float32)
        if jitter is not None:
            a = np.nextafter(a, np.where(jitter.integers(0, 2, a.shape) == 0, -np.inf, np.inf).astype(np.float32))
        P[os.path.basename(f)[:-4]] = torch.tensor(a, dtype=dtype).requires_grad_()
    x = torch.tensor(np.load(f"{d}/x.npy")).long(); y = torch.tensor(np.load(f"{d}/y.npy")).long()
    C, H = m["n_embd"], m["n_head"]; hs = C // H
    norm, pos, mlp = m.get("norm", "layernorm"), m.get("pos", "learned"), m.get("mlp", "gelu")
    qk, cap, base = m.get("qk_norm", False), m.get("logit_softcap", 0.0), m.get("rope_base", 10000.0)
    hidden = m.get("mlp_hidden", 4 * C)

    def nrm(z, k):
        if norm == "rmsnorm": return z * torch.rsqrt((z * z).mean(-1, keepdim=True) + 1e-5) * P[k + ".weight"]
        return torch.nn.functional.layer_norm(z, (C,), P[k + ".weight"], P.get(k + ".bias"), 1e-5)

    def lin(z, k): return torch.nn.functional.linear(z, P[k + ".weight"], P.get(k + ".bias"))

    def rope(z, T):
        inv = base ** (-torch.arange(0, hs // 2, dtype=dtype) * 2 / hs)
        a = torch.arange(T, dtype=dtype)[:, None] * inv[None]; a = torch.cat([a, a], -1)
        return z * a.cos() + torch.cat([-z[..., hs // 2:], z[..., :hs // 2]], -1) * a.sin()

    def loss():
        B, T = x.shape
        h = P["transformer.wte.weight"][x]
        if pos == "learned": h = h + P["transformer.wpe.weight"][:T]
        for l in range(m["n_layer"]):
            p = f"transformer.h.{l}."
            q, k, v = lin(nrm(h, p + "ln_1"), p + "attn.c_attn").split(C, 2)
            q, k, v = [t.view(B, T, H, hs).transpose(1, 2) for t in (q, k, v)]
            if qk: q, k = [t * torch.rsqrt((t * t).mean(-1, keepdim=True) + 1e-5) for t in (q, k)]
            if pos == "rope": q, k = rope(q, T), rope(k, T)
            att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
            att = att.masked_fill(torch.tril(torch.ones(T, T)) == 0, float("-inf")).softmax(-1)
            h = h + lin((att @ v).transpose(1, 2).reshape(B, T, C), p + "attn.c_proj")
            u = lin(nrm(h, p + "ln_2"), p + "mlp.c_fc")
            if mlp == "gelu": u = torch.nn.functional.gelu(u)
            elif mlp == "relu2": u = torch.relu(u) ** 2
            else: u = torch.nn.functional.silu(u[..., :hidden]) * u[..., hidden:]
            h = h + lin(u, p + "mlp.c_proj")
        logits = nrm(h, "transformer.ln_f") @ P.get("lm_head.weight", P["transformer.wte.weight"]).T
        if cap: logits = cap * torch.tanh(logits / cap)
        return torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))

    decay = [p for p in P.values() if p.dim() >= 2]; rest = [p for p in P.values() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": o["weight_decay"]},
                             {"params": rest, "weight_decay": 0.0}], lr=o["learning_rate"],
                            betas=(o["beta1"], o["beta2"]), eps=o["eps"])
    for _ in range(o["steps"]):
        opt.zero_grad(); loss().backward()
        torch.nn.utils.clip_grad_norm_(list(P.values()), o["grad_clip"]); opt.step()
    errors = []
    for k, p in P.items():
        ref = np.load(f"{d}/params_after/{k}.npy").astype(np.float64)
        errors.append((np.abs(p.detach().double().numpy() - ref).max() / np.abs(ref).max(), k))
    return max(errors)


root = sys.argv[1] if len(sys.argv) > 1 else "../shared/reference"
for d in sorted(glob.glob(f"{root}/*/")):
    d = d.rstrip("/"); name = os.path.basename(d)
    exact = replay(d, torch.float64)
    if exact is None: print(f"{name}: Muon, not replayed"); continue
    trials = sorted(replay(d, torch.float32, None if t == 0 else np.random.default_rng(t))[0] for t in range(31))
    print(f"{name:27s} float64 {exact[0]:.1e}; float32, 31 trials: min {trials[0]:.1e} median {trials[15]:.1e}"
          f" max {trials[-1]:.1e}, over 1e-4 in {sum(e > 1e-4 for e in trials)}")
