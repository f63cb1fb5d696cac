#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Peer measurement for bench/bench_forward.cpp: the fixture perplexity protocol (fixtures/README.md 2.4)
in plain PyTorch (no transformers): HF LlamaForCausalLM eager semantics, float32, 8 windows of 128 tokens per
forward call by default: `quantscope-cli eval` batches its windows too, and batch 8 was PyTorch's fastest
on the fixture (1 and 2 threads; batch 1 and 64 were 3-15% slower on a first-generation EPYC).

usage: ppl_torch.py [--threads N] [--repeat R] [--batch B] [--fixtures DIR]
                   [--model DIR --tokens NPY] [--windows W] [--ctx C]
--model takes any Llama directory with float32/BF16 model.safetensors (e.g. bench/make_synthetic_llama.py's,
whose tokens.npy is the data); the default is the fixture and its ref_test_tokens.npy.
Prints ppl and tokens/s; run under `/usr/bin/time -v` for the peak RSS.
"""
import argparse
import ctypes
import json
import math
import os
import sys
import struct
import time

import numpy as np
import torch


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        raw = np.frombuffer(data[b:end], dtype=np.uint16 if e["dtype"] == "BF16" else np.float32)
        if e["dtype"] == "BF16":
            raw = (raw.astype(np.uint32) << 16).view(np.float32)  # exact upcast
        out[name] = torch.from_numpy(raw.copy().reshape(e["shape"]))
    return out


class Llama:
    def __init__(self, model_dir, bf16=False):
        self.cfg = json.load(open(os.path.join(model_dir, "config.json")))
        self.w = load_safetensors(os.path.join(model_dir, "model.safetensors"))
        # --bf16: each Linear (and the head) on bf16 operands, its weight converted once, the input at
        # each product, the result back to float32 (as quantscope-cli eval --compute bf16 runs them).
        self.bf16 = bf16
        self.wt = {n: (t.T.to(torch.bfloat16) if bf16 else t.T) for n, t in self.w.items() if t.dim() == 2}
        c = self.cfg
        self.hd = c.get("head_dim", c["hidden_size"] // c["num_attention_heads"])
        self.nh, self.nkv = c["num_attention_heads"], c["num_key_value_heads"]
        self.eps = c["rms_norm_eps"]
        self.inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, self.hd, 2, dtype=torch.int64).float() / self.hd))

    def rms(self, x, w):
        var = x.pow(2).mean(-1, keepdim=True)
        return w * (x * torch.rsqrt(var + self.eps))

    @staticmethod
    def rotate_half(x):
        h = x.shape[-1] // 2
        return torch.cat((-x[..., h:], x[..., :h]), dim=-1)

    def mm(self, h, name):  # h @ W[name]ᵀ
        return (h.to(torch.bfloat16) @ self.wt[name]).float() if self.bf16 else h @ self.wt[name]

    def forward(self, ids):  # ids [B, S] -> logits [B, S, V]
        B, S = ids.shape
        w = self.w
        x = w["model.embed_tokens.weight"][ids]
        freqs = torch.arange(S, dtype=torch.float32)[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        mask = torch.full((S, S), torch.finfo(torch.float32).min).triu(1)
        for l in range(self.cfg["num_hidden_layers"]):
            p = f"model.layers.{l}."
            h = self.rms(x, w[p + "input_layernorm.weight"])
            q = self.mm(h, p + "self_attn.q_proj.weight").view(B, S, self.nh, self.hd).transpose(1, 2)
            k = self.mm(h, p + "self_attn.k_proj.weight").view(B, S, self.nkv, self.hd).transpose(1, 2)
            v = self.mm(h, p + "self_attn.v_proj.weight").view(B, S, self.nkv, self.hd).transpose(1, 2)
            q = q * cos + self.rotate_half(q) * sin
            k = k * cos + self.rotate_half(k) * sin
            rep = self.nh // self.nkv
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
            s = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.hd) + mask
            a = torch.softmax(s, dim=-1, dtype=torch.float32) @ v
            x = x + self.mm(a.transpose(1, 2).reshape(B, S, -1), p + "self_attn.o_proj.weight")
            h = self.rms(x, w[p + "post_attention_layernorm.weight"])
            g = torch.nn.functional.silu(self.mm(h, p + "mlp.gate_proj.weight")) * self.mm(h, p + "mlp.up_proj.weight")
            x = x + self.mm(g, p + "mlp.down_proj.weight")
        head = "lm_head.weight" if "lm_head.weight" in w else "model.embed_tokens.weight"  # tied when absent
        return self.mm(self.rms(x, w["model.norm.weight"]), head)


def set_blas_threads(n):
    """torch.set_num_threads sets the OpenMP pool only; a pthread OpenBLAS (Debian's torch links
    libblas.so.3 -> openblas-pthread) keeps one thread per core unless told. Returns its count, or None."""
    for lib in ("libopenblas.so.0", "libopenblas.so", "libblas.so.3"):
        try:
            h = ctypes.CDLL(lib)
            h.openblas_set_num_threads(ctypes.c_int(n))
            return int(h.openblas_get_num_threads())
        except (OSError, AttributeError):
            continue
    return None


def peer_setup(model_class, repeat, batch, batch_help, bf16_option=False):
    """The peers' common command line (threads, repeat, batch, model, tokens, windows, ctx): parses it, sets
    torch's and OpenBLAS's threads, loads the model. Returns (args, model, ids [windows, ctx], blas_threads)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=repeat)
    ap.add_argument("--batch", type=int, default=batch, help=batch_help)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--fixtures", default=os.path.join(here, "..", "..", "..", "shared", "fixtures"))
    ap.add_argument("--model", help="a Llama directory (default: the fixture)")
    ap.add_argument("--tokens", help=".npy of token ids (default: the fixture's ref_test_tokens.npy)")
    ap.add_argument("--windows", type=int, default=64)
    ap.add_argument("--ctx", type=int, default=128)
    if bf16_option:
        ap.add_argument("--bf16", action="store_true", help="Linears on bf16 operands (oneDNN's bf16 matmul)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    blas_threads = set_blas_threads(a.threads)
    d = a.model or os.path.join(a.fixtures, "tinyllama-bpe512")
    m = model_class(d, a.bf16) if bf16_option else model_class(d)
    tokens = np.load(a.tokens or os.path.join(d, "ref_test_tokens.npy")).astype(np.int64)
    W, C = a.windows, a.ctx
    if tokens.size < W * C:
        sys.exit(f"need {W * C} tokens, have {tokens.size}")
    return a, m, torch.from_numpy(tokens[:W * C]).view(W, C), blas_threads


def main():
    a, m, ids, blas_threads = peer_setup(Llama, 3, 8, "windows per forward call", bf16_option=True)
    W, C = a.windows, a.ctx
    best = None
    with torch.no_grad():
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            total = 0.0
            for b in range(0, W, a.batch):
                win = ids[b:b + a.batch]
                logits = m.forward(win)
                lp = torch.log_softmax(logits[:, :-1], dim=-1)
                nll = -lp.gather(-1, win[:, 1:, None]).squeeze(-1)
                total += nll.double().sum().item()
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
    ppl = math.exp(total / (W * (C - 1)))
    print(json.dumps({"threads": a.threads, "openblas_threads": blas_threads, "batch": a.batch, "bf16": a.bf16, "ppl": ppl, "seconds_best": best,
                      "tokens_per_second": W * C / best, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
