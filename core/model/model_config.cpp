// SPDX-License-Identifier: MIT
#include "model/model_config.h"

#include "io/file_util.h"
#include "tensor/error.h"

#include <array>
#include <climits>
#include <cmath>
#include <optional>
#include <string_view>

namespace qs::core {
namespace {

struct ArchRow {
    std::string_view modelType;
    Architecture arch;
};
constexpr std::array<ArchRow, 4> kArchs{{
    {"llama", Architecture::Llama},
    {"mistral", Architecture::Mistral},
    {"qwen2", Architecture::Qwen2},
    {"gpt2", Architecture::Gpt2},
}};

std::string supportedTypes() {
    std::string s;
    for (const auto& r : kArchs)
        s += (s.empty() ? "" : ", ") + std::string(r.modelType);
    return s;
}

// Typed, validated access to config keys; every error names the file and the key.
class Reader {
public:
    Reader(const nlohmann::json& j, const std::string& where) : m_j(j), m_where(where) {}

    [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
        throw Error(m_where + ": key '" + key + "' " + problem);
    }
    bool has(const std::string& key) const {
        const auto it = m_j.find(key);
        return it != m_j.end() && !it->is_null();
    }
    // Present, non-null integer > 0 that fits an int.
    int positiveInt(const std::string& key) const {
        const auto it = m_j.find(key);
        if (it == m_j.end() || it->is_null()) fail(key, "is missing");
        return checkPositive(key, *it);
    }
    std::optional<int> optPositiveInt(const std::string& key) const {
        if (!has(key)) return std::nullopt;
        return checkPositive(key, m_j.at(key));
    }
    double number(const std::string& key, double def, bool allowZero) const {
        if (!has(key)) return def;
        const auto& v = m_j.at(key);
        if (!v.is_number()) fail(key, "must be a number, not " + std::string(v.type_name()));
        const double d = v.get<double>();
        if (!std::isfinite(d) || d < 0 || (!allowZero && d == 0))
            fail(key,
                 std::string("must be ") + (allowZero ? "non-negative" : "positive") + ", got " + v.dump());
        return d;
    }
    bool boolean(const std::string& key, bool def) const {
        if (!has(key)) return def;
        const auto& v = m_j.at(key);
        if (!v.is_boolean()) fail(key, "must be true or false, not " + std::string(v.type_name()));
        return v.get<bool>();
    }
    std::string string(const std::string& key, const std::string& def) const {
        if (!has(key)) return def;
        const auto& v = m_j.at(key);
        if (!v.is_string()) fail(key, "must be a string, not " + std::string(v.type_name()));
        return v.get<std::string>();
    }

private:
    int checkPositive(const std::string& key, const nlohmann::json& v) const {
        if (!v.is_number_integer()) fail(key, "must be an integer, not " + v.dump());
        // Parsed JSON integers >= 0 are unsigned, negative or C++-built ones may be signed.
        const bool ok = v.is_number_unsigned()
                            ? v.get<std::uint64_t>() >= 1 && v.get<std::uint64_t>() <= std::uint64_t(INT_MAX)
                            : v.get<std::int64_t>() >= 1 && v.get<std::int64_t>() <= INT_MAX;
        if (!ok)
            fail(key,
                 "must be a positive integer (at most " + std::to_string(INT_MAX) + "), got " + v.dump());
        return static_cast<int>(v.get<std::int64_t>());
    }

    const nlohmann::json& m_j;
    const std::string& m_where;
};

void parseLlamaFamily(const Reader& r, ModelConfig& c) {
    c.hiddenSize = r.positiveInt("hidden_size");
    c.numLayers = r.positiveInt("num_hidden_layers");
    c.numHeads = r.positiveInt("num_attention_heads");
    c.intermediateSize = r.positiveInt("intermediate_size");
    c.vocabSize = r.positiveInt("vocab_size");
    c.numKvHeads = r.optPositiveInt("num_key_value_heads").value_or(c.numHeads);
    if (const auto hd = r.optPositiveInt("head_dim")) {
        c.headDim = *hd;
    } else {
        if (c.hiddenSize % c.numHeads != 0)
            r.fail("num_attention_heads", std::string("(") + std::to_string(c.numHeads) +
                                              ") must divide hidden_size (" + std::to_string(c.hiddenSize) +
                                              ") when head_dim is absent");
        c.headDim = c.hiddenSize / c.numHeads;
    }
    // Defaults are those of the Hugging Face config classes.
    const int defaultPositions = c.arch == Architecture::Llama     ? 2048
                                 : c.arch == Architecture::Mistral ? 131072
                                                                   : 32768;
    c.maxPositions = r.optPositiveInt("max_position_embeddings").value_or(defaultPositions);
    c.rmsNormEps = r.number("rms_norm_eps", 1e-6, true);
    c.ropeTheta = r.number("rope_theta", 10000.0, false);
    c.tieWordEmbeddings = r.boolean("tie_word_embeddings", false);
    c.hiddenAct = r.string("hidden_act", "silu");
    // Qwen2 always has q/k/v biases (its config has no switch); Llama may declare them.
    c.attentionBias = c.arch == Architecture::Qwen2   ? true
                      : c.arch == Architecture::Llama ? r.boolean("attention_bias", false)
                                                      : false;
}

void parseGpt2(const Reader& r, ModelConfig& c) {
    c.hiddenSize = r.positiveInt("n_embd");
    c.numLayers = r.positiveInt("n_layer");
    c.numHeads = r.positiveInt("n_head");
    c.vocabSize = r.positiveInt("vocab_size");
    c.maxPositions = r.optPositiveInt("n_positions").value_or(1024);
    if (c.hiddenSize % c.numHeads != 0)
        r.fail("n_head", std::string("(") + std::to_string(c.numHeads) + ") must divide n_embd (" +
                             std::to_string(c.hiddenSize) + ")");
    c.numKvHeads = c.numHeads;
    c.headDim = c.hiddenSize / c.numHeads;
    if (const auto inner = r.optPositiveInt("n_inner")) {
        c.intermediateSize = *inner;
    } else {
        if (c.hiddenSize > INT_MAX / 4) r.fail("n_embd", "is too large");
        c.intermediateSize = 4 * c.hiddenSize;
    }
    c.rmsNormEps = r.number("layer_norm_epsilon", 1e-5, true);
    c.tieWordEmbeddings = true; // GPT-2's lm_head is always wte
    c.attentionBias = true;     // c_attn / c_proj carry biases
    c.hiddenAct = r.string("activation_function", "gelu_new");
}

} // namespace

ModelConfig ModelConfig::fromJson(const nlohmann::json& j, const std::string& where) {
    if (!j.is_object()) throw Error(where + ": config is not a JSON object");
    const Reader r(j, where);
    ModelConfig c;
    const auto mt = j.find("model_type");
    if (mt == j.end() || mt->is_null())
        r.fail("model_type", "is missing (supported: " + supportedTypes() + ")");
    if (!mt->is_string()) r.fail("model_type", "must be a string, not " + mt->dump());
    c.modelType = mt->get<std::string>();
    bool known = false;
    for (const auto& row : kArchs)
        if (row.modelType == c.modelType) {
            c.arch = row.arch;
            known = true;
        }
    if (!known)
        throw Error(where + ": unsupported model_type '" + c.modelType + "' (supported: " + supportedTypes() +
                    ")");

    if (c.arch == Architecture::Gpt2)
        parseGpt2(r, c);
    else
        parseLlamaFamily(r, c);

    if (c.numKvHeads > c.numHeads || c.numHeads % c.numKvHeads != 0)
        r.fail("num_key_value_heads", std::string("(") + std::to_string(c.numKvHeads) +
                                          ") must divide num_attention_heads (" + std::to_string(c.numHeads) +
                                          ")");
    c.raw = j;
    return c;
}

ModelConfig ModelConfig::fromFile(const std::filesystem::path& path) {
    const std::string text = readWholeFile(path);
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw Error(path.string() + ": not valid JSON: " + e.what());
    }
    return fromJson(j, path.string());
}

} // namespace qs::core
