// SPDX-License-Identifier: MIT
#include "model/model_config.h"

#include "io/file_util.h"
#include "base/error.h"

#include <climits>
#include <cmath>
#include <optional>

namespace qs::core {
namespace {

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
    // An architecture's switch: its key when it has one, else its fixed value.
    bool flag(const ConfigSwitch& s) const { return s.key ? boolean(s.key, s.value) : s.value; }
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

void parseLlamaFamily(const Reader& r, const ArchitectureTraits& t, ModelConfig& c) {
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
    c.maxPositions = r.optPositiveInt("max_position_embeddings").value_or(t.defaultMaxPositions);
    c.rmsNormEps = r.number("rms_norm_eps", t.defaultNormEps, true);
    c.ropeTheta = r.number("rope_theta", 10000.0, false);
    c.tieWordEmbeddings = r.flag(t.tiedEmbeddings);
    c.hiddenAct = r.string("hidden_act", std::string(t.defaultActivation));
    c.attentionBias = r.flag(t.attentionBias);
}

void parseGpt2(const Reader& r, const ArchitectureTraits& t, ModelConfig& c) {
    c.hiddenSize = r.positiveInt("n_embd");
    c.numLayers = r.positiveInt("n_layer");
    c.numHeads = r.positiveInt("n_head");
    c.vocabSize = r.positiveInt("vocab_size");
    c.maxPositions = r.optPositiveInt("n_positions").value_or(t.defaultMaxPositions);
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
    c.rmsNormEps = r.number("layer_norm_epsilon", t.defaultNormEps, true);
    c.tieWordEmbeddings = r.flag(t.tiedEmbeddings);
    c.attentionBias = r.flag(t.attentionBias);
    c.hiddenAct = r.string("activation_function", std::string(t.defaultActivation));
}

} // namespace

ModelConfig ModelConfig::fromJson(const nlohmann::json& j, const std::string& where) {
    if (!j.is_object()) throw Error(where + ": config is not a JSON object");
    const Reader r(j, where);
    ModelConfig c;
    const auto mt = j.find("model_type");
    if (mt == j.end() || mt->is_null())
        r.fail("model_type", "is missing (supported: " + supportedModelTypes() + ")");
    if (!mt->is_string()) r.fail("model_type", "must be a string, not " + mt->dump());
    c.modelType = mt->get<std::string>();
    const ArchitectureTraits* row = findArchitecture(c.modelType);
    if (!row || row->configKeys == ConfigKeys::None)
        throw Error(where + ": unsupported model_type '" + c.modelType +
                    "' (supported: " + supportedModelTypes() + ")");
    c.arch = row->id;

    switch (row->configKeys) {
    case ConfigKeys::Llama:
        parseLlamaFamily(r, *row, c);
        break;
    case ConfigKeys::Gpt2:
        parseGpt2(r, *row, c);
        break;
    case ConfigKeys::None:
        break; // refused above
    }

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
