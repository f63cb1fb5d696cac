// SPDX-License-Identifier: MIT
#include "model/model.h"

#include "model/gguf_model.h"
#include "model/hf_model.h"
#include "model/onnx_model.h"
#include "tensor/error.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <string_view>

namespace qs::core {
namespace fs = std::filesystem;

const char* weightRoleName(WeightRole r) {
    switch (r) {
    case WeightRole::Linear:
        return "linear";
    case WeightRole::Embedding:
        return "embedding";
    case WeightRole::Norm:
        return "norm";
    case WeightRole::Bias:
        return "bias";
    case WeightRole::Head:
        return "head";
    case WeightRole::Other:
        return "other";
    }
    return "other";
}

std::vector<float> Model::weightAsOutIn(const WeightInfo& info) const {
    const Tensor t = weight(info.name);
    if (!isFloatConvertible(t.dtype()))
        throw Error(path().string() + ": weight '" + info.name + "' of type " +
                    std::string(dtypeName(t.dtype())) + " cannot be read as float32");
    std::vector<float> v = t.toFloats();
    if (!info.transposed || t.shape().size() != 2) return v;
    // GPT-2 Conv1D stores [in, out]; quantizers and the forward pass expect [out, in].
    const auto in = static_cast<std::size_t>(t.shape()[0]);
    const auto out = static_cast<std::size_t>(t.shape()[1]);
    std::vector<float> r(v.size());
    for (std::size_t i = 0; i < in; ++i)
        for (std::size_t o = 0; o < out; ++o)
            r[o * in + i] = v[i * out + o];
    return r;
}

const WeightInfo* Model::find(const std::string& name) const {
    for (const auto& w : weights())
        if (w.name == name) return &w;
    return nullptr;
}

std::int64_t Model::parameterCount() const {
    std::int64_t n = 0;
    for (const auto& w : weights())
        n += numel(w.shape);
    return n;
}

std::int64_t Model::quantizableParameterCount() const {
    std::int64_t n = 0;
    for (const auto& w : weights())
        if (w.quantizable) n += numel(w.shape);
    return n;
}

namespace {

// "<prefix>N.<rest>" -> N and rest; false when the name does not have that form.
bool splitLayer(std::string_view name, std::string_view prefix, int& index, std::string_view& rest) {
    if (!name.starts_with(prefix)) return false;
    name.remove_prefix(prefix.size());
    const auto dot = name.find('.');
    if (dot == 0 || dot == std::string_view::npos) return false;
    const auto digits = name.substr(0, dot);
    int parsed = -1;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), parsed);
    if (ec != std::errc() || end != digits.data() + digits.size() || parsed < 0) return false;
    index = parsed;
    rest = name.substr(dot + 1);
    return true;
}

template <std::size_t N> bool oneOf(std::string_view s, const std::array<std::string_view, N>& list) {
    return std::find(list.begin(), list.end(), s) != list.end();
}

constexpr std::array<std::string_view, 7> kLlamaLinears{
    "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
    "self_attn.o_proj.weight", "mlp.gate_proj.weight",    "mlp.up_proj.weight",
    "mlp.down_proj.weight",
};
constexpr std::array<std::string_view, 4> kGpt2Linears{"attn.c_attn.weight", "attn.c_proj.weight",
                                                       "mlp.c_fc.weight", "mlp.c_proj.weight"};

void classifyLlama(WeightInfo& w) {
    const std::string_view n = w.name;
    std::string_view rest;
    if (n == "model.embed_tokens.weight") {
        w.role = WeightRole::Embedding;
    } else if (n == "lm_head.weight") {
        w.role = WeightRole::Head;
    } else if (n == "model.norm.weight") {
        w.role = WeightRole::Norm;
    } else if (splitLayer(n, "model.layers.", w.layerIndex, rest)) {
        if (oneOf(rest, kLlamaLinears))
            w.role = WeightRole::Linear;
        else if (rest.ends_with("norm.weight")) // input_layernorm, post_attention_layernorm, q_norm, ...
            w.role = WeightRole::Norm;
        else if (rest.ends_with(".bias"))
            w.role = WeightRole::Bias;
    } else if (n.ends_with(".bias")) {
        w.role = WeightRole::Bias;
    } else if (n.ends_with("norm.weight")) {
        w.role = WeightRole::Norm;
    }
}

void classifyGpt2(WeightInfo& w) {
    std::string_view n = w.name;
    if (n == "lm_head.weight") {
        w.role = WeightRole::Head;
        return;
    }
    if (n.starts_with("transformer.")) n.remove_prefix(12);
    std::string_view rest;
    if (n == "wte.weight" || n == "wpe.weight") {
        w.role = WeightRole::Embedding;
    } else if (n.starts_with("ln_f.")) {
        w.role = WeightRole::Norm;
    } else if (splitLayer(n, "h.", w.layerIndex, rest)) {
        if (oneOf(rest, kGpt2Linears)) {
            w.role = WeightRole::Linear;
            w.transposed = true; // Conv1D stores [in, out]
        } else if (rest.starts_with("ln_")) {
            w.role = WeightRole::Norm;
        } else if (rest == "attn.bias" || rest == "attn.masked_bias") {
            w.role = WeightRole::Other; // causal-mask buffers of old checkpoints, not parameters
        } else if (rest.ends_with(".bias")) {
            w.role = WeightRole::Bias;
        }
    } else if (n.ends_with(".bias")) {
        w.role = WeightRole::Bias;
    }
}

std::string lowerExtension(const fs::path& p) {
    std::string e = p.extension().string();
    std::transform(e.begin(), e.end(), e.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return e;
}

} // namespace

WeightInfo classifyWeight(Architecture arch, const std::string& name, DType dtype, const Shape& shape) {
    WeightInfo w;
    w.name = name;
    w.dtype = dtype;
    w.shape = shape;
    if (arch == Architecture::Gpt2)
        classifyGpt2(w);
    else
        classifyLlama(w);
    // Weight quantizers work on matrices; anything else named like a Linear is left alone.
    w.quantizable = w.role == WeightRole::Linear && shape.size() == 2;
    return w;
}

std::unique_ptr<Model> openModel(const fs::path& path) {
    std::error_code ec;
    const auto st = fs::status(path, ec);
    if (ec || !fs::exists(st)) throw Error(path.string() + ": no such file or directory");
    if (fs::is_directory(st)) return HfModel::open(path);
    const std::string ext = lowerExtension(path);
    if (ext == ".gguf") return GgufModel::open(path);
    if (ext == ".onnx") return OnnxModel::open(path);
    if (ext == ".safetensors")
        throw Error(path.string() +
                    ": a bare .safetensors file has no config.json; open the Hugging Face model "
                    "directory that contains it");
    throw Error(path.string() +
                ": unrecognised model file (expected a Hugging Face model directory, .gguf or .onnx)");
}

} // namespace qs::core
