#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Peer measurement for a forward+backward benchmark: the loss of the fixture gradient protocol
(fixtures/tinyllama-bpe512/reference_grad.json) and its gradient w.r.t. every weight, in plain PyTorch
(no transformers): HF LlamaForCausalLM eager semantics, float32, every weight a leaf with requires_grad.

usage: grad_torch.py [--threads N] [--repeat R] [--batch B] [--fixtures DIR]
                     [--model DIR --tokens NPY] [--windows W] [--ctx C]
Window k = tokens[C*k : C*k+C], k = 0..W-1, each its own sequence (positions 0..C-1); the first token of a
window is not scored. L = mean NLL over the W*(C-1) scored tokens. The windows go B at a time: each batch's
NLL sum / W*(C-1) is backpropagated and the gradients accumulate, so one pass = forward+backward over all
W windows and leaves dL/dw in .grad. One warm-up pass, then R timed passes (gradients reset before
each). --threads N sets both torch's OpenMP pool and OpenBLAS's own thread count.
--model takes any Llama directory with float32/BF16 model.safetensors (e.g. bench/make_synthetic_llama.py's,
whose tokens.npy is the data); the default is the fixture and its ref_test_tokens.npy.
Check: --windows 8 on the fixture gives loss 2.1827512, |dL/d lm_head| 0.62768764, |dL/d embed| 0.32416424.
"""
import json
import math
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ppl_torch import Llama, load_safetensors, peer_setup  # noqa: E402


class LlamaGrad(Llama):
    """ppl_torch.Llama with leaf weights (requires_grad), optional q/k/v biases and a tied head."""

    def __init__(self, model_dir):  # pylint: disable=super-init-not-called
        self.cfg = json.load(open(os.path.join(model_dir, "config.json")))
        c = self.cfg
        w = load_safetensors(os.path.join(model_dir, "model.safetensors"))
        if c.get("tie_word_embeddings", False) or "lm_head.weight" not in w:
            w.pop("lm_head.weight", None)  # HF ties: the head is the embedding (one leaf, summed gradient)
        self.w = {k: v.float().contiguous().requires_grad_(True) for k, v in w.items()}
        self.hd = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
        self.nh = c["num_attention_heads"]
        self.nkv = c.get("num_key_value_heads") or self.nh
        self.eps = c["rms_norm_eps"]
        theta = c.get("rope_theta", 10000.0)
        self.inv_freq = 1.0 / (theta ** (torch.arange(0, self.hd, 2, dtype=torch.int64).float() / self.hd))

    def params(self):
        return list(self.w.values())

    def head(self):
        return self.w.get("lm_head.weight", self.w["model.embed_tokens.weight"])

    def proj(self, h, p, name, B, S, n):
        y = h @ self.w[p + name + ".weight"].T
        b = self.w.get(p + name + ".bias")
        if b is not None:
            y = y + b
        return y.view(B, S, n, self.hd).transpose(1, 2)

    def forward(self, ids):  # ids [B, S] -> logits [B, S, V]
        B, S = ids.shape
        w = self.w
        x = w["model.embed_tokens.weight"][ids]
        freqs = torch.arange(S, dtype=torch.float32)[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        mask = torch.full((S, S), torch.finfo(torch.float32).min).triu(1)
        rep = self.nh // self.nkv
        for l in range(self.cfg["num_hidden_layers"]):
            p = f"model.layers.{l}."
            h = self.rms(x, w[p + "input_layernorm.weight"])
            q = self.proj(h, p, "self_attn.q_proj", B, S, self.nh)
            k = self.proj(h, p, "self_attn.k_proj", B, S, self.nkv)
            v = self.proj(h, p, "self_attn.v_proj", B, S, self.nkv)
            q = q * cos + self.rotate_half(q) * sin
            k = k * cos + self.rotate_half(k) * sin
            if rep > 1:
                k = k.repeat_interleave(rep, dim=1)
                v = v.repeat_interleave(rep, dim=1)
            s = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.hd) + mask
            a = torch.softmax(s, dim=-1, dtype=torch.float32) @ v
            o = a.transpose(1, 2).reshape(B, S, -1) @ w[p + "self_attn.o_proj.weight"].T
            if p + "self_attn.o_proj.bias" in w:
                o = o + w[p + "self_attn.o_proj.bias"]
            x = x + o
            h = self.rms(x, w[p + "post_attention_layernorm.weight"])
            g = torch.nn.functional.silu(h @ w[p + "mlp.gate_proj.weight"].T) * (h @ w[p + "mlp.up_proj.weight"].T)
            x = x + g @ w[p + "mlp.down_proj.weight"].T
        return self.rms(x, w["model.norm.weight"]) @ self.head().T


def grad_pass(m, ids, batch):
    """Forward+backward over all windows; returns the loss (mean NLL), gradients accumulate in .grad."""
    W, C = ids.shape
    scored = W * (C - 1)
    total = 0.0
    for b in range(0, W, batch):
        win = ids[b:b + batch]
        logits = m.forward(win)
        lp = torch.log_softmax(logits[:, :-1], dim=-1)
        nll = -lp.gather(-1, win[:, 1:, None]).squeeze(-1)
        s = nll.sum()
        (s / scored).backward()
        total += s.item()
    return total / scored


def main():
    a, m, ids, blas_threads = peer_setup(LlamaGrad, 5, 8, "windows per forward/backward call")
    W, C = a.windows, a.ctx
    params = m.params()

    def zero():
        for t in params:
            t.grad = None

    zero()
    grad_pass(m, ids, a.batch)  # warm-up
    times = []
    loss = None
    for _ in range(a.repeat):
        zero()
        t0 = time.perf_counter()
        loss = grad_pass(m, ids, a.batch)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    emb_g = m.w["model.embed_tokens.weight"].grad
    head_g = m.head().grad
    print(json.dumps({"loss": loss, "seconds_median": med, "seconds_all": times,
                      "tokens_per_second": W * C / med, "threads": a.threads, "openblas_threads": blas_threads,
                      "batch": a.batch,
                      "windows": W, "ctx": C, "params": sum(t.numel() for t in params),
                      "grad_norm_embed": emb_g.double().norm().item(),
                      "grad_norm_lm_head": head_g.double().norm().item(),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
