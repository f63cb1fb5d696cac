#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""PyTorch's x @ wᵀ for bench_gemm's shapes: GFLOP/s (median of --repeat timed loops of >= 0.3 s), float32
(OpenBLAS) or bf16 (oneDNN, AMX where present), as quantscope's products and bf16 products are timed."""
import argparse
import json
import statistics
import time

import torch

from ppl_torch import set_blas_threads


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("m", type=int)
    ap.add_argument("n", type=int)
    ap.add_argument("k", type=int)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    set_blas_threads(a.threads)
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    g = torch.Generator().manual_seed(1)
    x = torch.randn(a.m, a.k, generator=g).to(dtype)
    wt = torch.randn(a.n, a.k, generator=g).to(dtype).T  # a Linear's [out, in] weight, transposed view
    flops = 2.0 * a.m * a.n * a.k
    rates = []
    with torch.no_grad():
        x @ wt
        for _ in range(a.repeat):
            t0, count = time.perf_counter(), 0
            while time.perf_counter() - t0 < 0.3:
                x @ wt
                count += 1
            rates.append(flops * count / (time.perf_counter() - t0) / 1e9)
    print(json.dumps({"m": a.m, "n": a.n, "k": a.k, "threads": a.threads, "dtype": a.dtype,
                      "gflops": statistics.median(rates), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
