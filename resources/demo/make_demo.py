# SPDX-License-Identifier: MIT
"""Build QuantScope's embedded demo model: a tiny byte-level Llama trained on the KJV Bible.

Needs only Debian packages: python3-torch, python3-numpy, bible-kjv, bible-kjv-text.
  /usr/bin/python3 resources/demo/make_demo.py            # train + write files + check
  /usr/bin/python3 resources/demo/make_demo.py --check    # re-evaluate the written files only
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import time

# On a busy machine, spinning OpenMP workers waste most of the CPU; must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 128,
    "intermediate_size": 384,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 32,
    "hidden_act": "silu",
    "rms_norm_eps": 1e-05,
    "rope_theta": 10000.0,
    "rope_scaling": None,
    "vocab_size": 257,
    "max_position_embeddings": 128,  # = training window; longer contexts were never seen
    "tie_word_embeddings": False,
    "attention_bias": False,
    "attention_dropout": 0.0,
    "mlp_bias": False,
    "initializer_range": 0.02,
    "pretraining_tp": 1,
    "use_cache": True,
    "bos_token_id": None,
    "eos_token_id": 256,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.44.2",
}
EOT = "<|endoftext|>"
SEQ = 128          # training and evaluation window length
SEED = 1234
SAMPLE_BYTES = 32768  # sample.txt gets held-out chapters until it reaches this size


# ----------------------------------------------------------------------------------------------
# Data: KJV from the bible-kjv package, one unit per chapter ("Book N" line, then "V text" lines)
# ----------------------------------------------------------------------------------------------
def load_kjv_chapters():
    try:
        # -l0: no line wrapping, so each verse is exactly one line.
        out = subprocess.run(["bible", "-l0", "gen1:1-rev22:21"], check=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"error: cannot run the 'bible' program ({e}).\n"
                 "Install the KJV text with: apt-get install bible-kjv bible-kjv-text")
    chapters = []
    for line in out.decode("ascii").split("\n"):
        if not line.strip():
            continue
        if line.startswith(" "):  # verse: "  12 text"
            num, text = line.strip().split(" ", 1)
            chapters[-1].append(f"{int(num)} {text}")
        else:                     # heading: "Genesis 1", "Song of Solomon 3"
            chapters.append([line.strip()])
    if len(chapters) != 1189:
        sys.exit(f"error: expected 1189 KJV chapters from 'bible', got {len(chapters)}")
    return ["\n".join(c) + "\n" for c in chapters]


def split_chapters(units):
    # Same split as the project's test fixtures: chapter k%20==18 calib, ==19 test, else train.
    train = [u for k, u in enumerate(units) if k % 20 < 18]
    calib = [u for k, u in enumerate(units) if k % 20 == 18]
    test = [u for k, u in enumerate(units) if k % 20 == 19]
    return train, calib, test


def to_ids(text):
    # Tokens are bytes: id == byte value (the tokenizer below guarantees this).
    return torch.tensor(list(text.encode("utf-8")), dtype=torch.long)


# ----------------------------------------------------------------------------------------------
# Tokenizer: byte-level BPE with no merges, ids 0..255 = byte values, 256 = <|endoftext|>
# ----------------------------------------------------------------------------------------------
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def tokenizer_json():
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}  # ordered by byte value, NOT GPT-2 order
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                  "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": 256, "content": EOT, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}],
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": None,
        "decoder": dict(byte_level, add_prefix_space=True),
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "vocab": vocab, "merges": []},
    }


TOKENIZER_CONFIG = {
    "tokenizer_class": "PreTrainedTokenizerFast",
    "bos_token": None,
    "eos_token": EOT,
    "unk_token": None,
    "pad_token": None,
    "add_bos_token": False,
    "add_eos_token": False,
    "model_max_length": 128,
    "clean_up_tokenization_spaces": False,
}


# ----------------------------------------------------------------------------------------------
# Model: Hugging Face LlamaForCausalLM semantics (eager attention, no biases, untied lm_head)
# ----------------------------------------------------------------------------------------------
def param_shapes(c):
    h, hd, inter = c["hidden_size"], c["head_dim"], c["intermediate_size"]
    nq, nkv, v = c["num_attention_heads"], c["num_key_value_heads"], c["vocab_size"]
    shapes = {"model.embed_tokens.weight": (v, h), "model.norm.weight": (h,),
              "lm_head.weight": (v, h)}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes.update({
            p + "input_layernorm.weight": (h,),
            p + "post_attention_layernorm.weight": (h,),
            p + "self_attn.q_proj.weight": (nq * hd, h),
            p + "self_attn.k_proj.weight": (nkv * hd, h),
            p + "self_attn.v_proj.weight": (nkv * hd, h),
            p + "self_attn.o_proj.weight": (h, nq * hd),
            p + "mlp.gate_proj.weight": (inter, h),
            p + "mlp.up_proj.weight": (inter, h),
            p + "mlp.down_proj.weight": (h, inter),
        })
    return shapes


def init_params(c, gen):
    params = {}
    for name, shape in sorted(param_shapes(c).items()):
        if len(shape) == 1:
            t = torch.ones(shape)
        else:
            t = torch.randn(shape, generator=gen) * c["initializer_range"]
        params[name] = t.requires_grad_(True)
    return params


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rope_tables(c, seq_len):
    hd = c["head_dim"]
    inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    ang = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
    emb = torch.cat([ang, ang], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def forward_ref(P, c, ids):
    """Reference forward, written like HF's LlamaForCausalLM: ids [B, S] -> logits [B, S, vocab]."""
    B, S = ids.shape
    nq, nkv, hd, eps = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"], \
        c["rms_norm_eps"]
    cos, sin = rope_tables(c, S)
    mask = torch.full((S, S), float("-inf")).triu(1)
    x = P["model.embed_tokens.weight"][ids]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, P[p + "input_layernorm.weight"], eps)
        q = (h @ P[p + "self_attn.q_proj.weight"].t()).view(B, S, nq, hd).transpose(1, 2)
        k = (h @ P[p + "self_attn.k_proj.weight"].t()).view(B, S, nkv, hd).transpose(1, 2)
        v = (h @ P[p + "self_attn.v_proj.weight"].t()).view(B, S, nkv, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # GQA as HF repeat_kv: query head j reads KV head j // (nq // nkv).
        k = k.repeat_interleave(nq // nkv, dim=1)
        v = v.repeat_interleave(nq // nkv, dim=1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, S, nq * hd)
        x = x + o @ P[p + "self_attn.o_proj.weight"].t()
        h = rms_norm(x, P[p + "post_attention_layernorm.weight"], eps)
        g = F.silu(h @ P[p + "mlp.gate_proj.weight"].t()) * (h @ P[p + "mlp.up_proj.weight"].t())
        x = x + g @ P[p + "mlp.down_proj.weight"].t()
    return rms_norm(x, P["model.norm.weight"], eps) @ P["lm_head.weight"].t()


# Debian's torch does matmul with the reference (netlib) BLAS, ~20x slower than oneDNN, which it
# uses for convolutions. So the fast forward below does every GEMM as a 1x1 conv1d on a
# channels-first [1, C, B*S] activation, and attention as grouped 1x1 convs (one group per
# sequence x head). Same math as forward_ref; --check verifies they agree.
def lin(x, w):
    """x [1, Cin, T], w [Cout, Cin] -> x^T W^T as [1, Cout, T]."""
    return F.conv1d(x, w.unsqueeze(-1))


def rms_norm_cf(x, w, eps):
    return w[:, None] * (x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + eps))


def forward(P, c, ids):
    """ids [B, S] -> logits [B, S, vocab]."""
    B, S = ids.shape
    nq, nkv, hd, eps = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"], \
        c["rms_norm_eps"]
    inter, r = c["intermediate_size"], nq // nkv
    cos, sin = (t.t() for t in rope_tables(c, S))  # [hd, S]
    mask_t = torch.full((S, S), float("-inf")).tril(-1)  # [key, query]: key > query is masked

    def heads(t, n):  # [1, n*hd, B*S] -> [B, n, hd, S]
        return t.view(n, hd, B, S).permute(2, 0, 1, 3)

    def rope(t):  # rotate_half convention along the hd axis
        t1, t2 = t.chunk(2, dim=2)
        return t * cos + torch.cat([-t2, t1], dim=2) * sin

    x = P["model.embed_tokens.weight"][ids.reshape(-1)].t()[None]  # [1, hidden, B*S]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm_cf(x, P[p + "input_layernorm.weight"], eps)
        wqkv = torch.cat([P[p + "self_attn.q_proj.weight"], P[p + "self_attn.k_proj.weight"],
                          P[p + "self_attn.v_proj.weight"]])
        q, k, v = lin(h, wqkv).split([nq * hd, nkv * hd, nkv * hd], dim=1)
        q = rope(heads(q, nq))
        # GQA (HF repeat_kv): query head j reads KV head j // r.
        k = rope(heads(k, nkv))[:, :, None].expand(B, nkv, r, hd, S).reshape(B, nq, hd, S)
        v = heads(v, nkv)[:, :, None].expand(B, nkv, r, hd, S).reshape(B, nq, hd, S)
        # scores_t[g, key, query] = k[g, :, key] . q[g, :, query], g = (sequence, head)
        s_t = F.conv1d(q.reshape(1, B * nq * hd, S), k.transpose(2, 3).reshape(B * nq * S, hd, 1),
                       groups=B * nq).view(B * nq, S, S)
        att = torch.softmax(s_t / math.sqrt(hd) + mask_t, dim=1)
        o = F.conv1d(att.view(1, B * nq * S, S), v.reshape(B * nq * hd, S, 1), groups=B * nq)
        o = o.view(B, nq * hd, S).permute(1, 0, 2).reshape(1, nq * hd, B * S)
        x = x + lin(o, P[p + "self_attn.o_proj.weight"])
        h = rms_norm_cf(x, P[p + "post_attention_layernorm.weight"], eps)
        wgu = torch.cat([P[p + "mlp.gate_proj.weight"], P[p + "mlp.up_proj.weight"]])
        g, u = lin(h, wgu).split([inter, inter], dim=1)
        x = x + lin(F.silu(g) * u, P[p + "mlp.down_proj.weight"])
    x = rms_norm_cf(x, P["model.norm.weight"], eps)
    return lin(x, P["lm_head.weight"])[0].t().reshape(B, S, -1)


# ----------------------------------------------------------------------------------------------
# Safetensors (written/read by hand so no extra package is needed)
# ----------------------------------------------------------------------------------------------
def save_safetensors_bf16(path, params):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(params):
        t = params[name].detach().to(torch.bfloat16).contiguous()  # round-to-nearest-even
        raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
        header[name] = {"dtype": "BF16", "shape": list(t.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * (-len(hj) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for raw in blobs:
            f.write(raw)


def load_safetensors_bf16_as_f32(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "BF16", name
        a, b = info["data_offsets"]
        u16 = np.frombuffer(data, dtype="<u2", count=(b - a) // 2, offset=8 + n + a)
        f32 = (u16.astype("<u4") << 16).view("<f4")  # exact bf16 -> f32 upcast
        out[name] = torch.from_numpy(f32.copy()).reshape(info["shape"])
    return out


# ----------------------------------------------------------------------------------------------
# Evaluation (the fixtures' perplexity protocol: non-overlapping windows, first token unscored)
# ----------------------------------------------------------------------------------------------
@torch.no_grad()
def window_nll(P, c, ids, max_windows=None):
    """Mean NLL (nats/byte) over all full SEQ-windows of ids; returns (mean, n_scored)."""
    nwin = len(ids) // SEQ if max_windows is None else min(max_windows, len(ids) // SEQ)
    wins = ids[:nwin * SEQ].view(nwin, SEQ)
    total, count = 0.0, 0
    for s in range(0, nwin, 64):
        w = wins[s:s + 64]
        logp = torch.log_softmax(forward(P, c, w)[:, :-1].float(), dim=-1)
        nll = -logp.gather(-1, w[:, 1:, None]).squeeze(-1)
        total += nll.double().sum().item()
        count += nll.numel()
    return total / count, count


def unigram_nll(train_ids, ids):
    # Add-one smoothed byte frequencies of the training text, scored on the same positions.
    counts = torch.bincount(train_ids, minlength=256).double() + 1.0
    logp = (counts / counts.sum()).log()
    nwin = len(ids) // SEQ
    scored = ids[:nwin * SEQ].view(nwin, SEQ)[:, 1:]
    return -logp[scored].mean().item()


@torch.no_grad()
def greedy(P, c, prompt, n):
    ids = list(prompt.encode("utf-8"))
    for _ in range(n):
        ctx = torch.tensor([ids[-c["max_position_embeddings"]:]])  # sliding window
        ids.append(int(forward(P, c, ctx)[0, -1, :256].argmax()))  # never emit <|endoftext|>
    return bytes(ids).decode("utf-8", errors="replace")


def evaluate(P, c, train_ids, test_ids, sample_ids):
    tr, nt = window_nll(P, c, train_ids, max_windows=256)
    te, n = window_nll(P, c, test_ids)
    sa, ns = window_nll(P, c, sample_ids)
    print(f"  train (first {nt} scored bytes): nll {tr:.4f} ppl {math.exp(tr):.4f}")
    print(f"  test  ({n} scored bytes): nll {te:.4f} ppl {math.exp(te):.4f} "
          f"({te / math.log(2):.4f} bits/byte)")
    print(f"  sample.txt ({ns} scored bytes): nll {sa:.4f} ppl {math.exp(sa):.4f}", flush=True)


# ----------------------------------------------------------------------------------------------
def train(c, steps, batch, lr, warmup, train_ids, log_every=50):
    gen = torch.Generator().manual_seed(SEED)
    P = init_params(c, gen)
    decay = [t for n, t in P.items() if t.dim() == 2]
    no_decay = [t for n, t in P.items() if t.dim() == 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95), eps=1e-8, foreach=False)
    min_lr = 1e-4
    t0, c0, losses = time.time(), time.process_time(), []
    for step in range(steps):
        if step < warmup:
            cur = lr * (step + 1) / warmup
        else:
            frac = (step - warmup) / max(1, steps - warmup)
            cur = min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * frac))
        for g in opt.param_groups:
            g["lr"] = cur
        # Random SEQ+1-byte windows from a seeded generator: fixed data order.
        starts = torch.randint(0, len(train_ids) - SEQ - 1, (batch,), generator=gen)
        w = torch.stack([train_ids[s:s + SEQ + 1] for s in starts.tolist()])
        logits = forward(P, c, w[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(P.values()), 1.0)
        opt.step()
        losses.append(loss.item())
        if (step + 1) % log_every == 0 or step == steps - 1:
            el = time.time() - t0
            recent = losses[-log_every:]
            print(f"step {step + 1}/{steps} loss {sum(recent) / len(recent):.4f} lr {cur:.2e} "
                  f"{el:.0f}s ({el / (step + 1):.2f} s/step)", flush=True)
    return P, losses, time.time() - t0, time.process_time() - c0


def write_side_files(out, c, sample_text):
    for name, obj in [("config.json", c), ("tokenizer.json", tokenizer_json()),
                      ("tokenizer_config.json", TOKENIZER_CONFIG)]:
        with open(os.path.join(out, name), "w") as f:
            json.dump(obj, f, indent=2, ensure_ascii=False)
            f.write("\n")
    with open(os.path.join(out, "sample.txt"), "w") as f:
        f.write(sample_text)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", default=here, help="output directory (default: this script's dir)")
    ap.add_argument("--steps", type=int, default=1000, help="training steps (default 1000)")
    # 16 x 128 beat 32 x 128 at equal bytes seen in this short a run.
    ap.add_argument("--batch", type=int, default=16, help="windows per step (default 16)")
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (default 3e-3)")
    ap.add_argument("--warmup", type=int, default=50, help="linear warmup steps (default 50)")
    ap.add_argument("--check", action="store_true",
                    help="only reload OUT/model.safetensors and evaluate it")
    args = ap.parse_args()

    torch.manual_seed(SEED)
    # Fixed thread count: reductions, hence results, depend on it. Also, with 1 thread torch 1.13
    # sends these 1x1 convs to the slow BLAS path instead of oneDNN.
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)

    train_u, _calib_u, test_u = split_chapters(load_kjv_chapters())
    train_text, test_text = "\n".join(train_u), "\n".join(test_u)
    sample_u = []
    for u in test_u:  # held-out test chapters in order, about SAMPLE_BYTES in total
        if sum(len(s) + 1 for s in sample_u) >= SAMPLE_BYTES:
            break
        sample_u.append(u)
    sample_text = "\n".join(sample_u)
    train_ids, test_ids, sample_ids = to_ids(train_text), to_ids(test_text), to_ids(sample_text)
    print(f"KJV: {len(train_u)} train chapters ({len(train_ids)} bytes), {len(test_u)} test "
          f"chapters ({len(test_ids)} bytes), sample.txt {len(sample_u)} chapters "
          f"({len(sample_ids)} bytes)", flush=True)

    c = CONFIG
    path = os.path.join(args.out, "model.safetensors")
    if not args.check:
        os.makedirs(args.out, exist_ok=True)
        print(f"parameters: {sum(math.prod(s) for s in param_shapes(c).values())}", flush=True)
        P, losses, secs, cpu = train(c, args.steps, args.batch, args.lr, args.warmup, train_ids)
        last = sum(losses[-50:]) / len(losses[-50:])
        print(f"training: {secs:.0f}s wall, {cpu:.0f}s CPU; train loss (mean of last 50 steps) "
              f"{last:.4f} ppl {math.exp(last):.4f}", flush=True)
        te, _ = window_nll({k: v.detach() for k, v in P.items()}, c, test_ids)
        print(f"fp32 weights: test nll {te:.4f} ppl {math.exp(te):.4f}", flush=True)
        save_safetensors_bf16(path, P)
        write_side_files(args.out, c, sample_text)

    # Check the written BF16 weights, upcast exactly to float32.
    P = load_safetensors_bf16_as_f32(path)
    assert {k: tuple(v.shape) for k, v in P.items()} == param_shapes(c), "tensor names/shapes"
    with torch.no_grad():
        w = test_ids[:2 * SEQ].view(2, SEQ)
        diff = (forward(P, c, w) - forward_ref(P, c, w)).abs().max().item()
    print(f"bf16 file {path}: fast vs reference forward max |diff| {diff:.2e}")
    assert diff < 1e-3, "fast forward disagrees with the reference forward"
    evaluate(P, c, train_ids, test_ids, sample_ids)
    uni = unigram_nll(train_ids, test_ids)
    print(f"unigram byte baseline: test nll {uni:.4f} ppl {math.exp(uni):.4f}")
    print("greedy continuation of 'In the beginning':")
    print(repr(greedy(P, c, "In the beginning", 200)))


if __name__ == "__main__":
    main()
