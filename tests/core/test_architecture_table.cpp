// SPDX-License-Identifier: MIT
// The architecture table (model/architecture.h): every id has one consistent row, config.json parsing
// yields each row's defaults and switches, weight classification and the forward pass read the row's
// names, and the unknown-model_type error lists the table's model types. Every test loops over the
// table, so a new row is checked the day it is added.
#include "base/error.h"
#include "fixture_paths.h"
#include "io/safetensors.h"
#include "model/architecture.h"
#include "model/gguf_model.h"
#include "model/model.h"
#include "nn/causal_lm.h"
#include "transform/llama_layout.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <gtest/gtest.h>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>

using namespace qs::core;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Every Architecture value. Append here when the enum grows: the size check fails until then.
constexpr Architecture kAllIds[] = {Architecture::Llama, Architecture::Mistral, Architecture::Qwen2,
                                    Architecture::Gpt2, Architecture::Onnx};

std::string str(std::string_view s) {
    return std::string(s);
}

// The smallest config.json of a row: its required keys only, so every default shows.
json minimalConfig(const ArchitectureTraits& a) {
    switch (a.configKeys) {
    case ConfigKeys::Llama:
        return {{"model_type", str(a.modelType)}, {"hidden_size", 8},        {"num_hidden_layers", 2},
                {"num_attention_heads", 2},       {"intermediate_size", 12}, {"vocab_size", 10}};
    case ConfigKeys::Gpt2:
        return {{"model_type", str(a.modelType)},
                {"n_embd", 8},
                {"n_layer", 2},
                {"n_head", 2},
                {"vocab_size", 10}};
    case ConfigKeys::None:
        break;
    }
    ADD_FAILURE() << "no minimal config for the key set of " << a.modelType;
    return json();
}

ModelConfig parseFile(const fs::path& dir, const json& j) {
    std::ofstream(dir / "config.json") << j.dump(2);
    return ModelConfig::fromFile(dir / "config.json");
}

// The block's Linears in execution order, without ".weight" (empty names left out).
std::vector<std::string_view> linears(const WeightNames& n) {
    std::vector<std::string_view> out;
    for (const std::string_view l : {n.qkv, n.q, n.k, n.v, n.o, n.gate, n.up, n.down})
        if (!l.empty()) out.push_back(l);
    return out;
}

std::string errorOf(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    ADD_FAILURE() << "no error";
    return {};
}

// A tiny checkpoint of a row's config `c`, named and laid out as the row says: every Linear, norm,
// embedding, learned position table and (untied) head, with `prefix` before every name but the head.
void writeTinyCheckpoint(const fs::path& dir, const ArchitectureTraits& a, const ModelConfig& c,
                         const std::string& prefix) {
    const WeightNames& n = a.names;
    std::vector<std::pair<std::string, Tensor>> ts;
    auto add = [&](const std::string& name, Shape shape, float base) {
        std::vector<float> v(static_cast<std::size_t>(numel(shape)));
        for (std::size_t i = 0; i < v.size(); ++i)
            v[i] = base + 0.02f * static_cast<float>(static_cast<int>(i % 7) - 3);
        ts.emplace_back(name, convertFloats(v.data(), shape, DType::F32));
    };
    const bool normBias = a.norm == NormKind::LayerNorm;
    auto norm = [&](const std::string& base) {
        add(base + ".weight", {c.hiddenSize}, 1.0f);
        if (normBias) add(base + ".bias", {c.hiddenSize}, 0.0f);
    };
    auto linear = [&](std::string_view name, const std::string& block, std::int64_t out, std::int64_t in) {
        if (name.empty()) return;
        add(block + str(name) + ".weight", a.transposedLinears ? Shape{in, out} : Shape{out, in}, 0.0f);
    };
    const std::int64_t h = c.hiddenSize, qDim = std::int64_t(c.numHeads) * c.headDim,
                       kvDim = std::int64_t(c.numKvHeads) * c.headDim, inter = c.intermediateSize;
    add(prefix + str(n.embed), {c.vocabSize, h}, 0.0f);
    if (a.positions == PositionKind::Learned) add(prefix + str(n.positions), {c.maxPositions, h}, 0.0f);
    for (int l = 0; l < c.numLayers; ++l) {
        const std::string b = prefix + str(n.layerPrefix) + std::to_string(l) + ".";
        norm(b + str(n.attnNorm));
        norm(b + str(n.mlpNorm));
        linear(n.qkv, b, qDim + 2 * kvDim, h);
        linear(n.q, b, qDim, h);
        linear(n.k, b, kvDim, h);
        linear(n.v, b, kvDim, h);
        linear(n.o, b, h, qDim);
        linear(n.gate, b, inter, h);
        linear(n.up, b, inter, h);
        linear(n.down, b, h, inter);
    }
    norm(prefix + str(n.finalNorm));
    if (!c.tieWordEmbeddings) add(str(n.head), {c.vocabSize, h}, 0.0f);
    writeSafetensors(dir / "model.safetensors", ts);
}

} // namespace

TEST(ArchitectureTable, EveryIdHasItsRowInIdOrder) {
    ASSERT_EQ(architectureTable().size(), std::size(kAllIds));
    for (std::size_t i = 0; i < std::size(kAllIds); ++i) {
        EXPECT_EQ(architectureTraits(kAllIds[i]).id, kAllIds[i]);
        EXPECT_EQ(&architectureTable()[i], &architectureTraits(kAllIds[i]));
    }
}

TEST(ArchitectureTable, IdsModelTypesAndNamesAreUnique) {
    std::set<int> ids;
    std::set<std::string_view> types, names;
    for (const auto& a : architectureTable()) {
        EXPECT_TRUE(ids.insert(static_cast<int>(a.id)).second) << a.modelType;
        EXPECT_FALSE(a.modelType.empty());
        EXPECT_FALSE(a.displayName.empty());
        EXPECT_TRUE(types.insert(a.modelType).second) << a.modelType;
        EXPECT_TRUE(names.insert(a.displayName).second) << a.displayName;
        EXPECT_EQ(findArchitecture(a.modelType), &a);
    }
    EXPECT_EQ(findArchitecture("bert"), nullptr);
    EXPECT_EQ(findArchitecture(""), nullptr);
}

TEST(ArchitectureTable, RowsAreConsistent) {
    for (const auto& a : architectureTable()) {
        SCOPED_TRACE(str(a.modelType));
        const WeightNames& n = a.names;
        if (a.configKeys == ConfigKeys::None) {
            // Not opened from a config.json: no HF checkpoint for CausalLm, GGUF or the transforms.
            EXPECT_FALSE(a.decoderOnly);
            EXPECT_TRUE(a.ggufArch.empty());
            EXPECT_FALSE(a.transformsApply());
        }
        if (!a.decoderOnly) continue;
        EXPECT_FALSE(a.hfClass.empty());
        EXPECT_GT(a.defaultMaxPositions, 0);
        EXPECT_GT(a.defaultNormEps, 0.0);
        EXPECT_FALSE(a.defaultActivation.empty());
        for (const std::string_view s :
             {n.head, n.embed, n.finalNorm, n.layerPrefix, n.attnNorm, n.mlpNorm, n.o, n.up, n.down})
            EXPECT_FALSE(s.empty());
        EXPECT_TRUE(n.layerPrefix.ends_with('.'));
        // q, k, v: either one fused projection or three separate ones.
        const bool separate = !n.q.empty() && !n.k.empty() && !n.v.empty();
        const bool none = n.q.empty() && n.k.empty() && n.v.empty();
        EXPECT_TRUE(n.qkv.empty() ? separate : none);
        EXPECT_EQ(n.positions.empty(), a.positions != PositionKind::Learned);
        // A window needs its length key; the other keys refine it.
        if (!a.slidingWindow.size) {
            EXPECT_EQ(a.slidingWindow.enabled, nullptr);
            EXPECT_EQ(a.slidingWindow.firstLayer, nullptr);
        }
        if (a.transformsApply()) {
            // What llama_layout assumes: RMSNorm, separate q/k/v, a gated MLP, [out, in] Linears, and
            // norm names without a prefix.
            EXPECT_EQ(a.norm, NormKind::Rms);
            EXPECT_TRUE(n.qkv.empty());
            EXPECT_FALSE(n.gate.empty());
            EXPECT_FALSE(a.transposedLinears);
            EXPECT_TRUE(n.optionalPrefix.empty());
        }
        if (!a.ggufArch.empty()) {
            // The GGUF reader builds a llama-keyed config and maps llama tensor names.
            EXPECT_EQ(a.configKeys, ConfigKeys::Llama);
            EXPECT_EQ(a.norm, NormKind::Rms);
            EXPECT_EQ(a.positions, PositionKind::Rope);
            const ArchitectureTraits* opened = findGgufArchitecture(a.ggufArch);
            ASSERT_NE(opened, nullptr);
            EXPECT_EQ(opened->configKeys, ConfigKeys::Llama);
            const std::string b = str(n.layerPrefix) + "0.";
            std::vector<std::string> all{str(n.embed), str(n.finalNorm) + ".weight", str(n.head),
                                         b + str(n.attnNorm) + ".weight", b + str(n.mlpNorm) + ".weight"};
            for (const auto l : linears(n))
                all.push_back(b + str(l) + ".weight");
            for (const auto& name : all)
                EXPECT_TRUE(hfToGgufName(name).has_value()) << name << " has no GGUF name";
        }
    }
}

TEST(ArchitectureTable, GgufArchitecturesComeFromTheTable) {
    std::string expected;
    std::set<std::string_view> seen;
    for (const auto& a : architectureTable())
        if (!a.ggufArch.empty() && seen.insert(a.ggufArch).second)
            expected += (expected.empty() ? "" : ", ") + str(a.ggufArch);
    EXPECT_EQ(supportedGgufArchitectures(), expected);
    EXPECT_EQ(findGgufArchitecture("llama"), &architectureTraits(Architecture::Llama));
    EXPECT_EQ(findGgufArchitecture("gpt2"), nullptr);
    EXPECT_EQ(findGgufArchitecture(""), nullptr);
}

TEST(ArchitectureTable, ConfigParsingYieldsTheRowsDefaultsAndSwitches) {
    for (const auto& a : architectureTable()) {
        if (a.configKeys == ConfigKeys::None) continue;
        SCOPED_TRACE(str(a.modelType));
        const fs::path dir = qs::test::outputDir("architecture_config_" + str(a.modelType));
        const ModelConfig c = parseFile(dir, minimalConfig(a));
        EXPECT_EQ(c.arch, a.id);
        EXPECT_EQ(c.modelType, a.modelType);
        EXPECT_EQ(c.maxPositions, a.defaultMaxPositions);
        EXPECT_DOUBLE_EQ(c.rmsNormEps, a.defaultNormEps);
        EXPECT_EQ(c.hiddenAct, a.defaultActivation);
        EXPECT_EQ(c.tieWordEmbeddings, a.tiedEmbeddings.value);
        EXPECT_EQ(c.attentionBias, a.attentionBias.value);

        // A switch with a key follows it; one without ignores the usual key.
        json flipped = minimalConfig(a);
        flipped[a.tiedEmbeddings.key ? a.tiedEmbeddings.key : "tie_word_embeddings"] =
            !a.tiedEmbeddings.value;
        flipped[a.attentionBias.key ? a.attentionBias.key : "attention_bias"] = !a.attentionBias.value;
        const ModelConfig f = parseFile(dir, flipped);
        EXPECT_EQ(f.tieWordEmbeddings,
                  a.tiedEmbeddings.key ? !a.tiedEmbeddings.value : a.tiedEmbeddings.value);
        EXPECT_EQ(f.attentionBias, a.attentionBias.key ? !a.attentionBias.value : a.attentionBias.value);
    }
}

TEST(ArchitectureTable, UnknownModelTypeListsTheTablesModelTypes) {
    std::string expected;
    for (const auto& a : architectureTable())
        if (a.configKeys != ConfigKeys::None) expected += (expected.empty() ? "" : ", ") + str(a.modelType);
    EXPECT_EQ(supportedModelTypes(), expected);
    EXPECT_EQ(expected, "llama, mistral, qwen2, gpt2"); // what the message has always said

    const std::string bert = errorOf([] { ModelConfig::fromJson({{"model_type", "bert"}}, "cfg.json"); });
    EXPECT_NE(bert.find("cfg.json"), std::string::npos) << bert;
    EXPECT_NE(bert.find("unsupported model_type 'bert'"), std::string::npos) << bert;
    EXPECT_NE(bert.find("(supported: " + expected + ")"), std::string::npos) << bert;
    // A row that is not read from config.json is no model_type a config.json may name.
    for (const auto& a : architectureTable()) {
        if (a.configKeys != ConfigKeys::None) continue;
        const std::string msg = errorOf([&] {
            ModelConfig::fromJson({{"model_type", str(a.modelType)}}, "cfg.json");
        });
        EXPECT_NE(msg.find("unsupported model_type '" + str(a.modelType) + "'"), std::string::npos) << msg;
        EXPECT_NE(msg.find("(supported: " + expected + ")"), std::string::npos) << msg;
    }
    const std::string missing = errorOf([] { ModelConfig::fromJson(json::object(), "cfg.json"); });
    EXPECT_NE(missing.find("'model_type' is missing (supported: " + expected + ")"), std::string::npos)
        << missing;
}

TEST(ArchitectureTable, ClassificationFollowsTheRowsNames) {
    for (const auto& a : architectureTable()) {
        if (!a.decoderOnly) continue;
        SCOPED_TRACE(str(a.modelType));
        const WeightNames& n = a.names;
        const auto c = [&](const std::string& name, Shape s = {4, 4}) {
            return classifyWeight(a.id, name, DType::F32, s);
        };
        EXPECT_EQ(c(str(n.head)).role, WeightRole::Head);
        EXPECT_FALSE(c(str(n.head)).quantizable);
        std::set<std::string> prefixes{"", str(n.optionalPrefix)};
        for (const auto& p : prefixes) {
            SCOPED_TRACE("prefix '" + p + "'");
            EXPECT_EQ(c(p + str(n.embed)).role, WeightRole::Embedding);
            if (!n.positions.empty()) {
                EXPECT_EQ(c(p + str(n.positions)).role, WeightRole::Embedding);
            }
            EXPECT_EQ(c(p + str(n.finalNorm) + ".weight", {4}).role, WeightRole::Norm);
            if (a.norm == NormKind::LayerNorm) {
                EXPECT_EQ(c(p + str(n.finalNorm) + ".bias", {4}).role, WeightRole::Norm);
            }
            const std::string b = p + str(n.layerPrefix) + "3.";
            for (const auto l : linears(n)) {
                const WeightInfo w = c(b + str(l) + ".weight");
                EXPECT_EQ(w.role, WeightRole::Linear) << w.name;
                EXPECT_EQ(w.layerIndex, 3) << w.name;
                EXPECT_TRUE(w.quantizable) << w.name;
                EXPECT_EQ(w.transposed, a.transposedLinears) << w.name;
                const WeightInfo bias = c(b + str(l) + ".bias", {4});
                EXPECT_EQ(bias.role, WeightRole::Bias) << bias.name;
                EXPECT_EQ(bias.layerIndex, 3) << bias.name;
                EXPECT_FALSE(bias.quantizable) << bias.name;
            }
            for (const std::string_view norm : {n.attnNorm, n.mlpNorm}) {
                const WeightInfo w = c(b + str(norm) + ".weight", {4});
                EXPECT_EQ(w.role, WeightRole::Norm) << w.name;
                EXPECT_EQ(w.layerIndex, 3) << w.name;
                if (a.norm == NormKind::LayerNorm) {
                    EXPECT_EQ(c(b + str(norm) + ".bias", {4}).role, WeightRole::Norm);
                }
            }
            // Another name inside a block keeps the block's index.
            const WeightInfo other = c(b + "unknown.weight");
            EXPECT_EQ(other.role, WeightRole::Other);
            EXPECT_EQ(other.layerIndex, 3);
        }
    }
}

TEST(ArchitectureTable, TheForwardPassAndTransformsReadTheRowsNames) {
    for (const auto& a : architectureTable()) {
        if (!a.decoderOnly || a.configKeys == ConfigKeys::None) continue;
        SCOPED_TRACE(str(a.modelType));
        const fs::path dir = qs::test::outputDir("architecture_forward_" + str(a.modelType));
        const ModelConfig c = parseFile(dir, minimalConfig(a));
        const std::string prefix = str(a.names.optionalPrefix); // the prefixed spelling, when there is one
        writeTinyCheckpoint(dir, a, c, prefix);
        const auto model = openModel(dir);
        const CausalLm lm(*model);
        ASSERT_EQ(lm.numLayers(), c.numLayers);

        const WeightNames& n = a.names;
        const std::string b = prefix + str(n.layerPrefix) + "1.";
        const auto w = [&](std::string_view name) { return b + str(name) + ".weight"; };
        const auto sites = lm.layerSites(1);
        ASSERT_EQ(sites.size(), 4u);
        using Names = std::vector<std::string>;
        const Names qkv = n.qkv.empty() ? Names{w(n.q), w(n.k), w(n.v)} : Names{w(n.qkv)};
        const Names gateUp = n.gate.empty() ? Names{w(n.up)} : Names{w(n.gate), w(n.up)};
        EXPECT_EQ(sites[0].weights, qkv);
        EXPECT_EQ(sites[1].weights, Names{w(n.o)});
        EXPECT_EQ(sites[2].weights, gateUp);
        EXPECT_EQ(sites[3].weights, Names{w(n.down)});

        const std::vector<std::int32_t> ids{1, 2, 3};
        const RowMatrixF logits = lm.forward(ids);
        ASSERT_EQ(logits.rows(), 3);
        ASSERT_EQ(logits.cols(), c.vocabSize);
        EXPECT_TRUE(logits.allFinite());

        if (a.transformsApply()) {
            const auto layers = llamaLayers(lm, *model, "test");
            ASSERT_EQ(layers.size(), static_cast<std::size_t>(c.numLayers));
            EXPECT_EQ(layers[1].attnNorm, w(n.attnNorm));
            EXPECT_EQ(layers[1].mlpNorm, w(n.mlpNorm));
        } else {
            const std::string msg = errorOf([&] { llamaLayers(lm, *model, "test"); });
            EXPECT_NE(msg.find("test: " + str(a.displayName) + " (" + str(a.transformBlocker) +
                               ") is not supported"),
                      std::string::npos)
                << msg;
        }
    }
}

TEST(ArchitectureTable, DefaultsAreTheHuggingFaceConfigDefaults) {
    // Written down independently from transformers' configuration classes (LlamaConfig, MistralConfig,
    // Qwen2Config, GPT2Config), so a wrong row fails here even though parsing reads the row.
    struct Hf {
        const char* type;
        int maxPositions;
        double normEps;
        const char* activation;
    };
    for (const Hf& hf : {Hf{"llama", 2048, 1e-6, "silu"}, Hf{"mistral", 4096 * 32, 1e-6, "silu"},
                         Hf{"qwen2", 32768, 1e-6, "silu"}, Hf{"gpt2", 1024, 1e-5, "gelu_new"}}) {
        SCOPED_TRACE(hf.type);
        const fs::path dir = qs::test::outputDir(std::string("architecture_hf_defaults_") + hf.type);
        const auto table = architectureTable();
        const auto row = std::find_if(table.begin(), table.end(), [&](const auto& a) { return a.modelType == hf.type; });
        ASSERT_NE(row, table.end());
        const ModelConfig c = parseFile(dir, minimalConfig(*row));
        EXPECT_EQ(c.maxPositions, hf.maxPositions);
        EXPECT_DOUBLE_EQ(c.rmsNormEps, hf.normEps);
        EXPECT_EQ(c.hiddenAct, hf.activation);
    }
}
