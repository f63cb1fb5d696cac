// SPDX-License-Identifier: MIT
#include "model/gguf_model.h"

#include "base/error.h"
#include "io/mapped_file.h"

#include <array>
#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string_view>

namespace qs::core {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const fs::path& path, const std::string& problem) {
    throw Error(path.string() + ": " + problem);
}

struct NameRow {
    std::string_view gguf; ///< inside a block: after "blk.N."
    std::string_view hf;   ///< inside a block: after "model.layers.N."
};
constexpr std::array<NameRow, 3> kGlobalNames{{
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
}};
constexpr std::array<NameRow, 13> kBlockNames{{
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"attn_q.bias", "self_attn.q_proj.bias"},
    {"attn_k.bias", "self_attn.k_proj.bias"},
    {"attn_v.bias", "self_attn.v_proj.bias"},
    {"attn_output.bias", "self_attn.o_proj.bias"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},
    {"attn_norm.weight", "input_layernorm.weight"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
}};

// "<prefix>N.<rest>" -> N, rest.
bool splitBlock(std::string_view name, std::string_view prefix, int& index, std::string_view& rest) {
    if (!name.starts_with(prefix)) return false;
    name.remove_prefix(prefix.size());
    const auto dot = name.find('.');
    if (dot == 0 || dot == std::string_view::npos) return false;
    int parsed = -1;
    const auto [end, ec] = std::from_chars(name.data(), name.data() + dot, parsed);
    if (ec != std::errc() || end != name.data() + dot || parsed < 0) return false;
    index = parsed;
    rest = name.substr(dot + 1);
    return true;
}

// Which q/k projection a HF name is: 'q', 'k' or 0.
char ropeProjection(std::string_view hfName) {
    if (hfName.ends_with(".self_attn.q_proj.weight")) return 'q';
    if (hfName.ends_with(".self_attn.k_proj.weight")) return 'k';
    return 0;
}

DType viewDType(GgufType t) {
    switch (t) {
    case GgufType::F16:
        return DType::F16;
    case GgufType::BF16:
        return DType::BF16;
    default:
        return DType::F32; // F32, and block types dequantized to F32
    }
}

// Required/optional integer metadata, with errors naming the GGUF key.
std::int64_t metaInt(const GgufFile& f, const std::string& key,
                     std::optional<std::int64_t> def = std::nullopt) {
    const GgufValue* v = f.findValue(key);
    if (!v) {
        if (def) return *def;
        fail(f.path(), "metadata key '" + key + "' is missing");
    }
    const auto i = v->toInt();
    if (!i || *i <= 0 || *i > INT32_MAX)
        fail(f.path(), "metadata key '" + key + "' must be a positive integer scalar");
    return *i;
}

std::optional<double> metaNumber(const GgufFile& f, const std::string& key) {
    const GgufValue* v = f.findValue(key);
    if (!v) return std::nullopt;
    const auto d = v->toDouble();
    if (!d) fail(f.path(), "metadata key '" + key + "' must be a number");
    return d;
}

} // namespace

std::string ggufToHfName(const std::string& ggufName) {
    for (const auto& r : kGlobalNames)
        if (r.gguf == ggufName) return std::string(r.hf);
    int layer = -1;
    std::string_view rest;
    if (splitBlock(ggufName, "blk.", layer, rest))
        for (const auto& r : kBlockNames)
            if (r.gguf == rest) return "model.layers." + std::to_string(layer) + "." + std::string(r.hf);
    return ggufName;
}

std::optional<std::string> hfToGgufName(const std::string& hfName) {
    for (const auto& r : kGlobalNames)
        if (r.hf == hfName) return std::string(r.gguf);
    int layer = -1;
    std::string_view rest;
    if (splitBlock(hfName, "model.layers.", layer, rest))
        for (const auto& r : kBlockNames)
            if (r.hf == rest) return "blk." + std::to_string(layer) + "." + std::string(r.gguf);
    return std::nullopt;
}

void permuteRopeRows(const std::byte* src, std::byte* dst, std::int64_t rows, std::size_t rowBytes, int nHead,
                     bool toGguf) {
    const std::int64_t hd = rows / nHead, half = hd / 2;
    for (std::int64_t h = 0; h < nHead; ++h)
        for (std::int64_t s = 0; s < 2; ++s)
            for (std::int64_t i = 0; i < half; ++i) {
                const std::int64_t hfRow = h * hd + s * half + i, ggRow = h * hd + 2 * i + s;
                const std::int64_t from = toGguf ? hfRow : ggRow, to = toGguf ? ggRow : hfRow;
                std::memcpy(dst + to * rowBytes, src + from * rowBytes, rowBytes);
            }
}

std::unique_ptr<GgufModel> GgufModel::open(const fs::path& path) {
    std::unique_ptr<GgufModel> m(new GgufModel());
    m->m_path = path;
    m->m_file = GgufFile::open(path);
    const GgufFile& f = m->m_file;

    const GgufValue* arch = f.findValue("general.architecture");
    if (!arch || !arch->toString()) fail(path, "metadata key 'general.architecture' (a string) is missing");
    const std::string archName = *arch->toString();
    const ArchitectureTraits* row = findGgufArchitecture(archName);
    if (!row)
        fail(path, "unsupported GGUF architecture '" + archName +
                       "' (supported: " + supportedGgufArchitectures() + ")");
    // Metadata keys are "<architecture>.<key>"; tensor names follow llama's (kGlobalNames, kBlockNames).
    const std::string k = archName + ".";

    const GgufTensorInfo* embd = f.find("token_embd.weight");
    if (!embd || embd->shape.size() != 2) fail(path, "tensor 'token_embd.weight' (2-D) is missing");

    nlohmann::json j;
    j["architectures"] = {std::string(row->hfClass)};
    j["model_type"] = std::string(row->modelType);
    j["hidden_size"] = metaInt(f, k + "embedding_length");
    j["num_hidden_layers"] = metaInt(f, k + "block_count");
    j["num_attention_heads"] = metaInt(f, k + "attention.head_count");
    j["num_key_value_heads"] =
        metaInt(f, k + "attention.head_count_kv", j["num_attention_heads"].get<std::int64_t>());
    j["intermediate_size"] = metaInt(f, k + "feed_forward_length");
    j["max_position_embeddings"] = metaInt(f, k + "context_length", row->defaultMaxPositions);
    if (f.findValue(k + "attention.key_length")) j["head_dim"] = metaInt(f, k + "attention.key_length");
    j["vocab_size"] = embd->shape[0];
    j["rms_norm_eps"] = metaNumber(f, k + "attention.layer_norm_rms_epsilon").value_or(1e-5);
    j["rope_theta"] = metaNumber(f, k + "rope.freq_base").value_or(10000.0);
    j["tie_word_embeddings"] = f.find("output.weight") == nullptr;
    j["hidden_act"] = "silu";
    j["torch_dtype"] = "float32";
    m->m_config = ModelConfig::fromJson(j, path.string());
    const ModelConfig& c = m->m_config;
    if (embd->shape[1] != c.hiddenSize)
        fail(path, "tensor 'token_embd.weight' has shape " + shapeToString(embd->shape) +
                       " but embedding_length is " + std::to_string(c.hiddenSize));

    for (const auto& ti : f.tensors()) {
        const std::string hf = ggufToHfName(ti.name);
        if (!m->m_ggufOf.emplace(hf, ti.name).second)
            fail(path, "two tensors map to the weight '" + hf + "'");
        if (const char p = ropeProjection(hf)) {
            const int nHead = p == 'q' ? c.numHeads : c.numKvHeads;
            if (ti.shape.size() != 2 || ti.shape[0] % (2 * nHead) != 0)
                fail(path, "tensor '" + ti.name + "' has shape " + shapeToString(ti.shape) +
                               ", rows must split into " + std::to_string(nHead) + " heads of even size");
        }
        m->m_weights.push_back(classifyWeight(c.arch, hf, viewDType(ti.type), ti.shape));
    }
    return m;
}

std::optional<std::string> GgufModel::ggufName(const std::string& name) const {
    const auto it = m_ggufOf.find(name);
    if (it == m_ggufOf.end()) return std::nullopt;
    return it->second;
}

Tensor GgufModel::weight(const std::string& name) const {
    const auto it = m_ggufOf.find(name);
    if (it == m_ggufOf.end()) fail(m_path, "no weight named '" + name + "'");
    Tensor t = m_file.tensor(it->second);
    const int nHead = ropeHeads(name);
    if (!nHead) return t;
    // Back from llama.cpp's interleaved RoPE rows to HF's rotate_half rows.
    Tensor out = Tensor::zeros(t.dtype(), t.shape());
    const std::size_t rowBytes = static_cast<std::size_t>(t.cols()) * dtypeSize(t.dtype());
    permuteRopeRows(t.bytes(), out.mutableBytes(), t.rows(), rowBytes, nHead, false);
    return out;
}

int GgufModel::ropeHeads(const std::string& name) const {
    const char p = ropeProjection(name);
    return p == 'q' ? m_config.numHeads : p == 'k' ? m_config.numKvHeads : 0;
}

std::optional<CompactMatrix> GgufModel::storedCodes(const std::string& name) const {
    const auto it = m_ggufOf.find(name);
    if (it == m_ggufOf.end() || !compactWeightsAllowed()) return std::nullopt;
    const GgufTensorInfo* ti = m_file.find(it->second);
    const GgufTypeTraits& type = ggufTypeTraits(ti->type);
    if (!type.split || ti->shape.size() != 2) return std::nullopt;
    const std::int64_t rows = ti->shape[0], cols = ti->shape[1];
    std::span<const std::byte> stored = m_file.rawData(ti->name);
    std::vector<std::byte> permuted;
    if (const int nHead = ropeHeads(name)) { // q/k rows back to HF's order, as weight() does
        permuted.resize(stored.size());
        permuteRopeRows(stored.data(), permuted.data(), rows, stored.size() / static_cast<std::size_t>(rows), nHead, false);
    }
    const std::byte* blocks = permuted.empty() ? stored.data() : permuted.data();
    std::vector<std::uint8_t> codes(static_cast<std::size_t>(rows * cols));
    std::vector<float> scales(codes.size() / static_cast<std::size_t>(type.codeRun)), mins(scales.size());
    type.split(blocks, rows * cols, codes.data(), scales.data(), mins.data());
    MappedFile::adviseNotNeeded(stored.data(), stored.size()); // read once, as weight()'s copies are
    return CompactMatrix::scaledWithMins(std::move(codes), std::move(scales), std::move(mins), rows, cols, type.codeRun);
}

} // namespace qs::core
