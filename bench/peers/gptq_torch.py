#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Peer measurement for bench/bench_gptq.cpp: GPTQ of one layer in PyTorch CPU, float32, with the structure
of the IST-DASLab reference (torch cholesky / cholesky_inverse / cholesky upper, lazy blocks of 128, asymmetric
min/max int4 quantizer, groups of 128 from the current weights), W [4096, 4096] and [11008, 4096], synthetic
H = 2/n X^T X from random correlated X [8192, 4096] (as in the C++ benchmark).

usage: OMP_WAIT_POLICY=PASSIVE python3 gptq_torch.py [--threads N] [--repeat R]   (Debian python3-torch: /usr/bin/python3)
Prints seconds per shape (best of R).
"""
import argparse
import time

import torch


def quantize(x, scale, zero, maxq):
    q = torch.clamp(torch.round(x / scale) + zero, 0, maxq)
    return scale * (q - zero)


def find_params(w, maxq):
    xmin = torch.minimum(w.min(1).values, torch.zeros(w.shape[0]))
    xmax = torch.maximum(w.max(1).values, torch.zeros(w.shape[0]))
    both = (xmin == 0) & (xmax == 0)
    xmin[both], xmax[both] = -1, 1
    scale = (xmax - xmin) / maxq
    zero = torch.round(-xmin / scale)
    return scale.unsqueeze(1), zero.unsqueeze(1)


def gptq(W, H, bits=4, groupsize=128, blocksize=128, percdamp=0.01):
    W = W.clone()
    H = H.clone()
    maxq = 2 ** bits - 1
    cols = W.shape[1]
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    Q = torch.zeros_like(W)
    damp = percdamp * torch.mean(torch.diag(H))
    idx = torch.arange(cols)
    H[idx, idx] += damp
    H = torch.linalg.cholesky(H)
    H = torch.cholesky_inverse(H)
    Hinv = torch.linalg.cholesky(H, upper=True)
    scale = zero = None
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        count = i2 - i1
        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        Err1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        for i in range(count):
            w = W1[:, i]
            d = Hinv1[i, i]
            if (i1 + i) % groupsize == 0:
                # current weights: in-block columns already updated (the primary rule)
                g = torch.cat([W1[:, i:], W[:, i2:]], 1)[:, :groupsize]
                scale, zero = find_params(g, maxq)
            q = quantize(w.unsqueeze(1), scale, zero, maxq).flatten()
            Q1[:, i] = q
            err1 = (w - q) / d
            W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err1
        Q[:, i1:i2] = Q1
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    return Q


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(2)
    cols, tokens = 4096, 8192
    X = torch.randn(tokens, cols)
    X[:, 1:] += 0.5 * X[:, :-1].clone()
    X[:, ::97] *= 10
    H = (2.0 / tokens) * (X.t() @ X)
    del X
    for rows in (4096, 11008):
        W = 0.02 * torch.randn(rows, cols)
        best = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            gptq(W, H)
            best = min(best, time.perf_counter() - t)
        print(f"gptq_torch rows={rows} cols={cols} threads={args.threads}: {best:.2f} s")


if __name__ == "__main__":
    main()
