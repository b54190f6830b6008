"""Reads a `quill export` in PyTorch, as nanoGPT's train.py and sample.py do, for PyTorchInteropTest.

The GPT below is Quill's own minimal model with nanoGPT's architecture and parameter names (GPT-2's layout:
pre-LayerNorm blocks, tied lm_head). Like nanoGPT's model.py, each attention registers its causal mask as a
buffer `attn.bias` when PyTorch has no flash attention (before 2.0), so its state dict has the same keys.

Usage: nanogpt_check.py JSON, where JSON holds
  pt2, pt1    exports without and with --mask-buffers; this PyTorch loads the one it needs with strict=True
              and must refuse the other
  idx         a batch of token ids (B, T)
  logits      where to write the logits (B, T, V), raw float32, little-endian
  after_step  where to torch.save the state dict after one AdamW step, resumed from the export's state, on the batch
  gpu_ckpt    where to write a checkpoint as a GPU run of nanoGPT leaves it: the weights as loaded (layer-norm
              weights in float16, the others in bfloat16) under torch.compile's _orig_mod. prefix, AdamW's state
              after one more step, best_val_loss a tensor
Prints one JSON line: the torch version, whether it has flash attention, the loss before the step.
"""
import json
import math
import sys

import torch
import torch.nn as nn
from torch.nn import functional as F


class LayerNorm(nn.Module):
    def __init__(self, n, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.bias = nn.Parameter(torch.zeros(n)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class SelfAttention(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.n_head = a['n_head']
        self.c_attn = nn.Linear(a['n_embd'], 3 * a['n_embd'], bias=a['bias'])
        self.c_proj = nn.Linear(a['n_embd'], a['n_embd'], bias=a['bias'])
        if not hasattr(F, 'scaled_dot_product_attention'):  # nanoGPT's model.py keeps its mask as a buffer here
            t = a['block_size']
            self.register_buffer('bias', torch.tril(torch.ones(t, t)).view(1, 1, t, t))

    def forward(self, x):
        b, t, c = x.size()
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))  # (B, nh, T, hs)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
        mask = torch.tril(torch.ones(t, t, dtype=torch.bool))
        att = F.softmax(att.masked_fill(~mask, float('-inf')), dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
        return self.c_proj(y)


class Mlp(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.c_fc = nn.Linear(a['n_embd'], 4 * a['n_embd'], bias=a['bias'])
        self.c_proj = nn.Linear(4 * a['n_embd'], a['n_embd'], bias=a['bias'])

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.ln_1 = LayerNorm(a['n_embd'], a['bias'])
        self.attn = SelfAttention(a)
        self.ln_2 = LayerNorm(a['n_embd'], a['bias'])
        self.mlp = Mlp(a)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(a['vocab_size'], a['n_embd']),
            wpe=nn.Embedding(a['block_size'], a['n_embd']),
            h=nn.ModuleList([Block(a) for _ in range(a['n_layer'])]),
            ln_f=LayerNorm(a['n_embd'], a['bias'])))
        self.lm_head = nn.Linear(a['n_embd'], a['vocab_size'], bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # tied, as GPT-2

    def forward(self, idx):
        t = idx.size(1)
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(t))
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


def load(path):
    if int(torch.__version__.split('.')[0]) >= 2:  # plain data only, as PyTorch 2.6+ loads by default
        return torch.load(path, map_location='cpu', weights_only=True)
    return torch.load(path, map_location='cpu')  # 1.x's weights_only reads no floats, nanoGPT's checkpoints neither


def main():
    args = json.loads(sys.argv[1])
    flash = hasattr(F, 'scaled_dot_product_attention')
    mine, other = (args['pt2'], args['pt1']) if flash else (args['pt1'], args['pt2'])
    ckpt = load(mine + '/ckpt.pt')
    model = GPT(ckpt['model_args'])
    model.load_state_dict(ckpt['model'], strict=True)
    try:
        GPT(ckpt['model_args']).load_state_dict(load(other + '/ckpt.pt')['model'], strict=True)
        raise SystemExit('the export for the other PyTorch loaded strictly here too')
    except RuntimeError:
        pass

    model.eval()
    idx = torch.tensor(args['idx'])
    with torch.no_grad():
        logits = model(idx)
    with open(args['logits'], 'wb') as f:
        f.write(logits.contiguous().numpy().astype('<f4').tobytes())

    # the settings file nanoGPT's train.py executes: the checkpoint's config, and init_from = 'resume'
    c = ckpt['config']
    settings = {}
    exec(open(mine + '/train_config.py').read(), {}, settings)
    assert settings.pop('init_from') == 'resume'
    assert all(c[k] == v for k, v in settings.items()) and settings['batch_size'] == c['batch_size'], settings

    # nanoGPT's configure_optimizers, then its resume: load the state and take a step
    params = [p for p in model.parameters()]
    optimizer = torch.optim.AdamW([{'params': [p for p in params if p.dim() >= 2], 'weight_decay': c['weight_decay']},
                                   {'params': [p for p in params if p.dim() < 2], 'weight_decay': 0.0}],
                                  lr=c['learning_rate'], betas=(c['beta1'], c['beta2']))
    optimizer.load_state_dict(ckpt['optimizer'])
    for p in params:
        assert int(optimizer.state[p]['step']) == ckpt['iter_num'], 'AdamW step != iter_num'
    loaded = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    loss = F.cross_entropy(model(idx[:, :-1]).flatten(0, 1), idx[:, 1:].flatten())
    loss.backward()
    optimizer.step()
    torch.save({k: v for k, v in model.state_dict().items() if not k.endswith('.attn.bias')}, args['after_step'])

    state = {}
    for k, v in loaded.items():
        state['_orig_mod.' + k] = v.to(torch.float16 if '.ln_' in k else torch.bfloat16)
    torch.save({'model': state, 'optimizer': optimizer.state_dict(), 'model_args': ckpt['model_args'],
                'iter_num': ckpt['iter_num'] + 1, 'best_val_loss': torch.tensor(2.5), 'config': c}, args['gpu_ckpt'])
    print(json.dumps({'torch': torch.__version__, 'flash': flash, 'loss': loss.item()}))


if __name__ == '__main__':
    main()
