#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Regenerates the seed corpora under tests/fuzz/corpus/<harness>/ from the fixtures, the demo and small
# hand-made files, each a few KB (big real files are cut down: a real header with tiny tensors).
# Standard library only. HDF5 and project seeds come from the engine's own writers (qs_fuzz_seed_writer,
# built in any build dir given as BUILD_DIR; skipped when absent).
#   tests/fuzz/make_seeds.py [BUILD_DIR]
import json, os, random, shutil, sqlite3, struct, subprocess, sys, tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FIX = ROOT.parent / "shared" / "fixtures"
DEMO = ROOT / "resources" / "demo"
OUT = HERE / "corpus"
rng = random.Random(11)


def put(harness, name, data):
    d = OUT / harness
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


# ---- safetensors ----------------------------------------------------------------------------------
ST_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def safetensors(tensors, metadata=None):
    header, off, data = {}, 0, b""
    for name, dtype, shape in tensors:
        n = ST_SIZE[dtype]
        for s in shape:
            n *= s
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + n]}
        data += bytes(rng.randrange(256) for _ in range(n))
        off += n
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def seeds_safetensors():
    put("safetensors", "dtypes.safetensors", safetensors(
        [(f"t.{d.lower()}", d, [2, 3]) for d in ST_SIZE] + [("empty", "F32", [0, 4]), ("scalar", "F32", [])],
        {"format": "pt"}))
    # The fixture's real header (names, dtypes, order) with every tensor cut to [2, 2].
    raw = (FIX / "tinyllama-bpe512" / "model.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    hdr = json.loads(raw[8:8 + n])
    cut = [(k, v["dtype"], [2] * min(len(v["shape"]), 2)) for k, v in hdr.items() if k != "__metadata__"]
    put("safetensors", "tinyllama_header.safetensors", safetensors(cut, hdr.get("__metadata__")))
    put("safetensors", "empty_header.safetensors", struct.pack("<Q", 2) + b"{}")


# ---- Hugging Face config.json and the shard index ---------------------------------------------------
def seeds_hf():
    cfg = json.loads((FIX / "tinyllama-bpe512" / "config.json").read_text())
    put("hf_config", "tinyllama.json", json.dumps(cfg, indent=1))
    put("hf_config", "demo.json", (DEMO / "config.json").read_text())
    for mt in ("mistral", "qwen2"):
        c = dict(cfg, model_type=mt)
        if mt == "qwen2":
            c["attention_bias"] = True
        put("hf_config", f"{mt}.json", json.dumps(c))
    put("hf_config", "gpt2.json", json.dumps({
        "model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 128, "vocab_size": 512,
        "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new", "n_inner": None}))
    names = {"model.embed_tokens.weight": 1, "model.norm.weight": 1,
             "model.layers.0.self_attn.q_proj.weight": 2, "model.layers.0.input_layernorm.weight": 2}
    wm = {k: f"model-0000{v}-of-00002.safetensors" for k, v in names.items()}
    put("hf_index", "two_shards.json", json.dumps({"metadata": {"total_size": 736}, "weight_map": wm}, indent=1))
    put("hf_index", "one_shard.json", json.dumps({"weight_map": {k: v for k, v in wm.items() if "00001" in v}}))


# ---- GGUF -------------------------------------------------------------------------------------------
GT = {"U8": 0, "I8": 1, "U16": 2, "I16": 3, "U32": 4, "I32": 5, "F32": 6, "BOOL": 7, "STR": 8, "ARR": 9,
      "U64": 10, "I64": 11, "F64": 12}
SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
# type id: (block elements, block bytes)
QT = {"F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18), "Q4_1": (3, 32, 20), "Q5_0": (6, 32, 22),
      "Q5_1": (7, 32, 24), "Q8_0": (8, 32, 34), "Q2_K": (10, 256, 84), "Q3_K": (11, 256, 110),
      "Q4_K": (12, 256, 144), "Q5_K": (13, 256, 176), "Q6_K": (14, 256, 210), "I8": (24, 1, 1),
      "I16": (25, 1, 2), "I32": (26, 1, 4), "F64": (28, 1, 8), "BF16": (30, 1, 2)}


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gval(t, v):
    if t == GT["STR"]:
        return gstr(v)
    if t == GT["ARR"]:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(gval(et, x) for x in items)
    return struct.pack(SCALAR[t], v)


def gguf(kvs, tensors, align=32):
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += gstr(k) + struct.pack("<I", t) + gval(t, v)
    data, infos = b"", b""
    for name, ty, shape in tensors:
        tid, be, bb = QT[ty]
        ne = list(reversed(shape))
        n = 1
        for s in shape:
            n *= s
        nbytes = n // be * bb
        data += b"\0" * (-len(data) % align)
        infos += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", x) for x in ne)
        infos += struct.pack("<IQ", tid, len(data))
        # Small values: f16 scales of 0x2000-ish keep dequantized numbers finite.
        data += bytes((rng.randrange(256) if i % 2 == 0 else 0x20) for i in range(nbytes))
    out += infos
    out += b"\0" * (-len(out) % align)
    return out + data


def llama_kvs(hidden=32, ff=32):
    return [("general.architecture", GT["STR"], "llama"), ("general.name", GT["STR"], "tiny"),
            ("llama.embedding_length", GT["U32"], hidden), ("llama.block_count", GT["U32"], 1),
            ("llama.attention.head_count", GT["U32"], 2), ("llama.attention.head_count_kv", GT["U32"], 1),
            ("llama.feed_forward_length", GT["U32"], ff), ("llama.context_length", GT["U32"], 64),
            ("llama.attention.layer_norm_rms_epsilon", GT["F32"], 1e-5), ("llama.rope.freq_base", GT["F32"], 1e4)]


def seeds_gguf():
    vocab = ["h", "e", "l", "o", "\u0120", "he", "ll", "<|endoftext|>"]
    gpt2_tok = [("tokenizer.ggml.model", GT["STR"], "gpt2"), ("tokenizer.ggml.pre", GT["STR"], "gpt-2"),
                ("tokenizer.ggml.tokens", GT["ARR"], (GT["STR"], vocab)),
                ("tokenizer.ggml.token_type", GT["ARR"], (GT["I32"], [1] * 7 + [3])),
                ("tokenizer.ggml.merges", GT["ARR"], (GT["STR"], ["h e", "l l"])),
                ("tokenizer.ggml.eos_token_id", GT["U32"], 7)]
    h = 32
    blk = [("token_embd.weight", "F16", [8, h]), ("blk.0.attn_norm.weight", "F32", [h]),
           ("blk.0.attn_q.weight", "Q4_0", [h, h]), ("blk.0.attn_k.weight", "Q8_0", [16, h]),
           ("blk.0.attn_v.weight", "Q4_1", [16, h]), ("blk.0.attn_output.weight", "Q5_0", [h, h]),
           ("blk.0.ffn_gate.weight", "Q5_1", [h, h]), ("blk.0.ffn_up.weight", "Q8_0", [h, h]),
           ("blk.0.ffn_down.weight", "Q4_0", [h, h]), ("blk.0.ffn_norm.weight", "F32", [h]),
           ("output_norm.weight", "F32", [h])]
    put("gguf", "llama_gpt2.gguf", gguf(llama_kvs() + gpt2_tok, blk))
    sp = ["<unk>", "<s>", "</s>", "\u2581", "h", "e", "\u2581he", "<0x41>"]
    sp_tok = [("tokenizer.ggml.model", GT["STR"], "llama"),
              ("tokenizer.ggml.tokens", GT["ARR"], (GT["STR"], sp)),
              ("tokenizer.ggml.scores", GT["ARR"], (GT["F32"], [0, 0, 0, -3, -4, -4, -1, 0])),
              ("tokenizer.ggml.token_type", GT["ARR"], (GT["I32"], [2, 3, 3, 1, 1, 1, 1, 1])),
              ("tokenizer.ggml.unknown_token_id", GT["U32"], 0), ("tokenizer.ggml.bos_token_id", GT["U32"], 1),
              ("tokenizer.ggml.add_space_prefix", GT["BOOL"], True),
              ("general.alignment", GT["U32"], 64)]
    kq = [(f"q.{t.lower()}", t, [1, 256]) for t in ("Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K")]
    plain = [(f"p.{t.lower()}", t, [2, 3]) for t in ("I8", "I16", "I32", "F64", "BF16", "F16")]
    put("gguf", "types_spm.gguf", gguf(sp_tok + [("x.u64", GT["U64"], 1 << 40), ("x.i64", GT["I64"], -5),
                                                 ("x.f64", GT["F64"], 0.5), ("x.u8", GT["U8"], 7)],
                                       kq + plain, align=64))


# ---- protobuf (ONNX, SentencePiece) -------------------------------------------------------------------
def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        out += bytes([b | (0x80 if v else 0)])
        if not v:
            return out


def fld(n, wire, payload):
    return varint(n << 3 | wire) + payload


def pint(n, v):
    return fld(n, 0, varint(v & 0xFFFFFFFFFFFFFFFF))


def plen(n, b):
    b = b.encode() if isinstance(b, str) else b
    return fld(n, 2, varint(len(b)) + b)


def pf32(n, f):
    return fld(n, 5, struct.pack("<f", f))


def seeds_sentencepiece():
    def model(pieces, model_type, byte_fallback, dummy=True):
        out = b"".join(plen(1, plen(1, p) + pf32(2, s) + (pint(3, t) if t != 1 else b"")) for p, s, t in pieces)
        out += plen(2, pint(3, model_type) + pint(35, int(byte_fallback)))
        return out + plen(3, plen(1, "identity") + pint(3, int(dummy)) + pint(4, 1))
    base = [("<unk>", 0, 2), ("<s>", 0, 3), ("</s>", 0, 3)]
    bpe = base + [(c, -5, 1) for c in "abcdehlorw"] + [("\u2581", -5, 1), ("ab", -1, 1), ("he", -0.5, 1),
                                                      ("\u2581he", -2, 1), ("ll", -3, 1), ("<0x41>", 0, 6)]
    put("sentencepiece", "bpe.model", model(bpe, 2, False))
    put("sentencepiece", "bpe_bytes.model", model(bpe[:-1] + [(f"<0x{b:02X}>", 0, 6) for b in range(256)], 2, True))
    uni = base + [(w, -float(i + 1), 1) for i, w in enumerate(["\u2581", "h", "e", "l", "o", "he", "llo",
                                                                 "\u2581hello", "w", "r", "d"])]
    put("sentencepiece", "unigram.model", model(uni, 1, False, dummy=False))


def seeds_onnx():
    def tensor(name, dims, vals):
        return b"".join(pint(1, d) for d in dims) + pint(2, 1) + plen(4, b"".join(struct.pack("<f", v) for v in vals)) \
            + plen(8, name)

    def raw_tensor(name, dims, dtype, raw):
        return b"".join(pint(1, d) for d in dims) + pint(2, dtype) + plen(8, name) + plen(9, raw)

    def attr_i(name, v):
        return plen(1, name) + pint(3, v) + pint(20, 2)

    def attr_f(name, v):
        return plen(1, name) + pf32(2, v) + pint(20, 1)

    def attr_ints(name, vs):
        return plen(1, name) + b"".join(pint(8, v) for v in vs) + pint(20, 7)

    def node(op, ins, outs, attrs=(), name=""):
        return b"".join(plen(1, i) for i in ins) + b"".join(plen(2, o) for o in outs) + plen(3, name or op) \
            + plen(4, op) + b"".join(plen(5, a) for a in attrs)

    def value(name, dims):
        shape = b"".join(plen(1, pint(1, d) if d >= 0 else plen(2, "batch")) for d in dims)
        return plen(1, name) + plen(2, plen(1, pint(1, 1) + plen(2, shape)))

    def model(nodes, inits, inputs, outputs, opset=13):
        g = b"".join(plen(1, n) for n in nodes) + plen(2, "g") + b"".join(plen(5, t) for t in inits)
        g += b"".join(plen(11, value(n, d)) for n, d in inputs) + b"".join(plen(12, value(n, [])) for n in outputs)
        return pint(1, 8) + plen(2, "make_seeds") + plen(7, g) + plen(8, plen(1, "") + pint(2, opset))

    r = lambda n: [round(rng.uniform(-1, 1), 3) for _ in range(n)]
    cnn = model(
        [node("Conv", ["x", "cw", "cb"], ["c"], [attr_ints("pads", [1, 1, 1, 1]), attr_ints("kernel_shape", [3, 3])]),
         node("Relu", ["c"], ["r"]),
         node("MaxPool", ["r"], ["p"], [attr_ints("kernel_shape", [2, 2]), attr_ints("strides", [2, 2])]),
         node("BatchNormalization", ["p", "bs", "bb", "bm", "bv"], ["bn"], [attr_f("epsilon", 1e-5)]),
         node("Flatten", ["bn"], ["f"], [attr_i("axis", 1)]),
         node("Gemm", ["f", "fw", "fb"], ["g"], [attr_i("transB", 1)]),
         node("MatMul", ["g", "mw"], ["m"]), node("Add", ["m", "mb"], ["a"]),
         node("Softmax", ["a"], ["y"], [attr_i("axis", -1)])],
        [tensor("cw", [2, 1, 3, 3], r(18)), tensor("cb", [2], r(2)), tensor("bs", [2], [1, 1]),
         tensor("bb", [2], [0, 0]), tensor("bm", [2], [0, 0]), tensor("bv", [2], [1, 1]),
         tensor("fw", [4, 8], r(32)), tensor("fb", [4], r(4)), tensor("mw", [4, 3], r(12)), tensor("mb", [3], r(3))],
        [("x", [-1, 1, 4, 4])], ["y"])
    put("onnx", "cnn.onnx", cnn)
    shape64 = struct.pack("<2q", 1, 8)
    mlp = model(
        [node("Reshape", ["x", "s"], ["xr"]), node("LayerNormalization", ["xr", "ls", "lb"], ["ln"],
                                                     [attr_i("axis", -1), attr_f("epsilon", 1e-5)]),
         node("MatMul", ["ln", "w1"], ["h"]), node("Gelu", ["h"], ["gl"]), node("Tanh", ["gl"], ["t"]),
         node("Sigmoid", ["t"], ["sg"]), node("Mul", ["sg", "t"], ["mu"]), node("Sub", ["mu", "h"], ["sb"]),
         node("Div", ["sb", "two"], ["dv"]), node("Transpose", ["dv"], ["tr"], [attr_ints("perm", [1, 0])]),
         node("Shape", ["tr"], ["sh"]), node("Gather", ["sh", "idx"], ["g0"], [attr_i("axis", 0)]),
         node("Unsqueeze", ["g0", "ax"], ["u"]), node("Concat", ["u", "u"], ["cc"], [attr_i("axis", 0)]),
         node("Identity", ["tr"], ["y"]), node("Erf", ["gl"], ["e"]), node("Sqrt", ["two"], ["sq"]),
         node("GlobalAveragePool", ["x4"], ["gp"]), node("AveragePool", ["x4"], ["ap"],
                                                         [attr_ints("kernel_shape", [2, 2])]),
         node("Squeeze", ["gp", "ax23"], ["sq2"]), node("Dropout", ["sq2"], ["dr"])],
        [raw_tensor("s", [2], 7, shape64), tensor("ls", [8], [1] * 8), tensor("lb", [8], [0] * 8),
         tensor("w1", [8, 4], r(32)), tensor("two", [], [2.0]), raw_tensor("idx", [], 7, struct.pack("<q", 0)),
         raw_tensor("ax", [1], 7, struct.pack("<q", 0)), raw_tensor("ax23", [2], 7, struct.pack("<2q", 2, 3))],
        [("x", [2, 4]), ("x4", [1, 2, 4, 4])], ["y", "cc", "e", "sq", "ap", "dr"])
    put("onnx", "ops.onnx", mlp)


# ---- npy ----------------------------------------------------------------------------------------------
def npy(descr, shape, payload, version=1, fortran=False):
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (
        descr, "True" if fortran else "False", "".join(f"{s}, " for s in shape) if len(shape) != 1 else f"{shape[0]},")
    hl = 4 if version >= 2 else 2
    pad = -(6 + 2 + hl + len(d) + 1) % 64
    h = (d + " " * pad + "\n").encode()
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I" if hl == 4 else "<H", len(h)) + h + payload


def seeds_npy():
    for descr, fmt in (("<f4", "f"), ("<f2", "e"), ("<f8", "d"), ("<i8", "q"), ("<i4", "i"), ("<i2", "h"),
                       ("|i1", "b"), ("|u1", "B"), ("<u2", "H"), ("<u4", "I"), ("<u8", "Q")):
        vals = [1, 2, 3, 0, 5, 7]
        put("npy", f"{descr[1:]}.npy", npy(descr, [2, 3], struct.pack("<6" + fmt, *vals)))
    put("npy", "b1.npy", npy("|b1", [4], bytes([0, 1, 1, 0])))
    put("npy", "v2_scalar.npy", npy("<f4", [], struct.pack("<f", 1.5), version=2))
    put("npy", "v3_empty.npy", npy("<f4", [0, 3], b"", version=3))
    put("npy", "ref_tokens_7.npy", (FIX / "tinyllama-bpe512" / "ref_tokens_7.npy").read_bytes())
    put("npy", "digits_y.npy", (FIX / "digits-cnn" / "test_y.npy").read_bytes())


# ---- tokenizer.json, recipes, sweep grids -----------------------------------------------------------
def seeds_json():
    tok = json.loads((FIX / "tinyllama-bpe512" / "tokenizer.json").read_text())
    # The real file's structure with a vocabulary of its first 80 tokens and the merges among them.
    vocab = {k: v for k, v in tok["model"]["vocab"].items() if v < 80}
    tok["model"]["vocab"] = vocab
    merges = []
    for m in tok["model"]["merges"]:
        a, b = m.split(" ") if isinstance(m, str) else m
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(m)
    tok["model"]["merges"] = merges
    put("tokenizer_json", "tinyllama_cut.json", json.dumps(tok, ensure_ascii=False))
    demo = json.loads((DEMO / "tokenizer.json").read_text())
    put("tokenizer_json", "demo.json", json.dumps(demo, ensure_ascii=False))
    sp_style = {"version": "1.0", "added_tokens": [{"id": 0, "content": "<unk>", "special": True},
                                                   {"id": 1, "content": "<s>", "special": True}],
                "normalizer": {"type": "Sequence", "normalizers": [
                    {"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "},
                                                              "content": "\u2581"}]},
                "pre_tokenizer": None,
                "decoder": {"type": "Sequence", "decoders": [
                    {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"},
                    {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
                "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": True, "fuse_unk": True,
                          "vocab": {"<unk>": 0, "<s>": 1, "<0x0A>": 2, "\u2581": 3, "h": 4, "e": 5, "he": 6,
                                    "\u2581he": 7, "l": 8, "o": 9, "ll": 10},
                          "merges": ["h e", "\u2581 he", "l l"]}}
    put("tokenizer_json", "sentencepiece_style.json", json.dumps(sp_style, ensure_ascii=False))

    put("recipe", "mixed.json", (FIX / "tinyllama-bpe512" / "recipe_mixed.json").read_text())
    put("recipe", "empty.json", "{}")
    put("recipe", "gptq_act.json", json.dumps({"method": "gptq", "method_params": {"damp": 0.01},
                                               "format": "int4", "granularity": "group", "group": 128,
                                               "activation": {"format": "int8", "granularity": "token"},
                                               "kv_cache": {"format": "fp8_e4m3", "granularity": "tensor"}}))
    put("recipe", "mx.json", json.dumps({"method": "rtn", "format": "mxfp4", "scale": "percentile",
                                         "percentile": 99.9, "layers": [{"match": "lm_head", "keep": True},
                                                                        {"match": "*.[qk]_proj", "format": "nf4"}]}))
    put("sweep_grid", "formats.json", json.dumps({"method": ["rtn"], "format": ["int4", "int8", "mxfp4"],
                                                  "granularity": ["channel", "group"], "group": [32, 128]}))
    put("sweep_grid", "mixed.json", json.dumps({"method": "gptq", "format": "int4", "sym": [True, False],
                                                "act-quant": ["int8:token"], "calib-windows": 4,
                                                "layer": ["*.down_proj=int8:channel"]}))


def seeds_engine(build_dir):
    exe = Path(build_dir) / "bin" / "qs_fuzz_seed_writer"
    if not exe.exists():
        print(f"skipping HDF5/project seeds: build {exe} first", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as t:
        subprocess.run([str(exe), t], check=True)
        for h5 in ("images.h5", "cache.h5"):
            put("hdf5", h5, (Path(t) / h5).read_bytes())
        # Smallest pages and no WAL, so the project seed is a few KB.
        db = sqlite3.connect(Path(t) / "runs.qsproj")
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("PRAGMA page_size=512")
        db.execute("VACUUM")
        db.close()
        put("project", "runs.qsproj", (Path(t) / "runs.qsproj").read_bytes())


if __name__ == "__main__":
    for f in (seeds_safetensors, seeds_hf, seeds_gguf, seeds_sentencepiece, seeds_onnx, seeds_npy, seeds_json):
        f()
    seeds_engine(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build-asan")
