#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write a Hugging Face Llama directory with random BF16 weights, for timing QuantScope at sizes
(1B, 7B) for which no real checkpoint is at hand and none can be downloaded.

The weights are normal(0, 0.02) (norms: ones), so the forward pass is numerically sane but the model
knows nothing; timings are meaningful, perplexities and sensitivities are not. Besides config.json and
model.safetensors (BF16, written by hand: python3 + numpy only) it writes tokens.npy, 65536 random
int32 token ids in [0, vocab), to pass as --data / --calib instead of text (there is no tokenizer).
Tensors are generated and written one chunk of rows at a time, so memory stays small.

usage: make_synthetic_llama.py --out DIR [--hidden 2048] [--layers 16] [--heads 32] [--kv-heads 8]
                               [--intermediate 5632] [--vocab 32000] [--seed 0]
"""
import argparse
import json
import os
import struct

import numpy as np

CHUNK_ELEMS = 1 << 24  # float32 values generated at once (64 MiB)


def to_bf16(x):
    """float32 -> bf16 bit patterns (uint16): top 16 bits, round to nearest, ties to even."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounding = np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))
    out = ((bits + rounding) >> np.uint32(16)).astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():
        out[nan] = 0x7FC0
    return out


def tensor_list(a):
    """(name, shape, kind) of every weight, kind 'normal' or 'ones'."""
    head_dim = a.hidden // a.heads
    kv = a.kv_heads * head_dim
    h, i = a.hidden, a.intermediate
    t = [("model.embed_tokens.weight", (a.vocab, h), "normal"),
         ("model.norm.weight", (h,), "ones"),
         ("lm_head.weight", (a.vocab, h), "normal")]
    for n in range(a.layers):
        p = f"model.layers.{n}."
        t += [(p + "input_layernorm.weight", (h,), "ones"),
              (p + "post_attention_layernorm.weight", (h,), "ones"),
              (p + "self_attn.q_proj.weight", (h, h), "normal"),
              (p + "self_attn.k_proj.weight", (kv, h), "normal"),
              (p + "self_attn.v_proj.weight", (kv, h), "normal"),
              (p + "self_attn.o_proj.weight", (h, h), "normal"),
              (p + "mlp.gate_proj.weight", (i, h), "normal"),
              (p + "mlp.up_proj.weight", (i, h), "normal"),
              (p + "mlp.down_proj.weight", (h, i), "normal")]
    return sorted(t, key=lambda e: e[0])


def write_safetensors(path, tensors, rng):
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape, _ in tensors:
        nbytes = 2 * int(np.prod(shape))
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name, shape, kind in tensors:
            if kind == "ones":
                f.write(to_bf16(np.ones(shape, dtype=np.float32)).tobytes())
                continue
            rows, cols = shape
            step = max(1, CHUNK_ELEMS // cols)
            for r in range(0, rows, step):
                n = min(step, rows - r)
                x = rng.standard_normal((n, cols), dtype=np.float32)
                x *= np.float32(0.02)
                f.write(to_bf16(x).tobytes())
    return offset


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--kv-heads", type=int, default=8)
    ap.add_argument("--intermediate", type=int, default=5632)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tokens", type=int, default=65536, help="length of tokens.npy")
    a = ap.parse_args()
    if a.hidden % a.heads or a.heads % a.kv_heads:
        ap.error("hidden must be a multiple of heads, heads a multiple of kv-heads")

    os.makedirs(a.out, exist_ok=True)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": a.hidden, "intermediate_size": a.intermediate,
        "num_hidden_layers": a.layers, "num_attention_heads": a.heads,
        "num_key_value_heads": a.kv_heads, "vocab_size": a.vocab,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 2048,
        "hidden_act": "silu", "torch_dtype": "bfloat16", "tie_word_embeddings": False,
        "bos_token_id": 1, "eos_token_id": 2,
    }
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")

    rng = np.random.default_rng(a.seed)
    tensors = tensor_list(a)
    nbytes = write_safetensors(os.path.join(a.out, "model.safetensors"), tensors, rng)
    tokens = np.random.default_rng(a.seed + 1).integers(0, a.vocab, size=a.tokens, dtype=np.int32)
    np.save(os.path.join(a.out, "tokens.npy"), tokens)
    params = sum(int(np.prod(s)) for _, s, _ in tensors)
    print(f"{a.out}: {len(tensors)} tensors, {params / 1e9:.3f}B parameters, {nbytes / 2**30:.2f} GiB BF16")


if __name__ == "__main__":
    main()
