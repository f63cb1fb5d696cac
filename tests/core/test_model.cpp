// SPDX-License-Identifier: MIT
// Model loading: the fixture Llama (single file and re-sharded), config parsing, weight classification,
// and a tiny synthetic GPT-2 directory.
#include "fixture_paths.h"
#include "io/file_util.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "base/error.h"

#include <cstring>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

using namespace qs::core;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

fs::path testDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return qs::test::outputDir(std::string("model_") + info->name());
}

void writeText(const fs::path& p, const std::string& s) {
    std::ofstream(p, std::ios::binary) << s;
}

json fixtureConfig() {
    return json::parse(readWholeFile(qs::test::tinyLlama() / "config.json"));
}

// Error message check: contains every keyword.
template <class F> void expectError(F&& f, std::initializer_list<std::string> keywords) {
    try {
        f();
        FAIL() << "no error";
    } catch (const Error& e) {
        const std::string msg = e.what();
        for (const auto& k : keywords)
            EXPECT_NE(msg.find(k), std::string::npos) << "'" << k << "' not in: " << msg;
    }
}

// The fixture's tensors re-split into two shards plus an index in `dir`.
void writeShardedCopy(const fs::path& dir, json index = json()) {
    fs::copy_file(qs::test::tinyLlama() / "config.json", dir / "config.json");
    const auto src = SafetensorsFile::open(qs::test::tinyLlama() / "model.safetensors");
    std::vector<std::pair<std::string, Tensor>> a, b;
    json map = json::object();
    for (std::size_t i = 0; i < src.entries().size(); ++i) {
        const auto& e = src.entries()[i];
        const bool first = i % 2 == 0; // interleaved, so each shard holds layers from everywhere
        (first ? a : b).emplace_back(e.name, src.tensor(e.name));
        map[e.name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    }
    writeSafetensors(dir / "model-00001-of-00002.safetensors", a);
    writeSafetensors(dir / "model-00002-of-00002.safetensors", b);
    if (index.is_null()) index = {{"metadata", {{"total_size", 3542400}}}, {"weight_map", map}};
    writeText(dir / "model.safetensors.index.json", index.dump(2));
}

// A tiny GPT-2 (n_embd 8, 2 layers) in HF layout with "transformer." names and a causal-mask buffer.
void writeTinyGpt2(const fs::path& dir) {
    writeText(dir / "config.json", R"({"model_type": "gpt2", "n_embd": 8, "n_layer": 2, "n_head": 2,
        "n_positions": 16, "vocab_size": 10, "n_inner": null, "layer_norm_epsilon": 1e-5})");
    std::vector<std::pair<std::string, Tensor>> ts;
    auto add = [&](const std::string& name, Shape shape) {
        std::vector<float> v(static_cast<std::size_t>(numel(shape)));
        for (std::size_t i = 0; i < v.size(); ++i)
            v[i] = static_cast<float>(i) * 0.25f - 3.0f + name.size();
        ts.emplace_back(name, convertFloats(v.data(), shape, DType::F32));
    };
    add("transformer.wte.weight", {10, 8});
    add("transformer.wpe.weight", {16, 8});
    add("transformer.ln_f.weight", {8});
    add("transformer.ln_f.bias", {8});
    for (int l = 0; l < 2; ++l) {
        const std::string h = "transformer.h." + std::to_string(l) + ".";
        add(h + "ln_1.weight", {8});
        add(h + "ln_1.bias", {8});
        add(h + "attn.c_attn.weight", {8, 24});
        add(h + "attn.c_attn.bias", {24});
        add(h + "attn.c_proj.weight", {8, 8});
        add(h + "attn.c_proj.bias", {8});
        add(h + "attn.bias", {1, 1, 16, 16});
        add(h + "ln_2.weight", {8});
        add(h + "ln_2.bias", {8});
        add(h + "mlp.c_fc.weight", {8, 32});
        add(h + "mlp.c_fc.bias", {32});
        add(h + "mlp.c_proj.weight", {32, 8});
        add(h + "mlp.c_proj.bias", {8});
    }
    writeSafetensors(dir / "model.safetensors", ts);
}

} // namespace

TEST(ModelTest, OpensTheFixtureLlama) {
    const auto m = openModel(qs::test::tinyLlama());
    EXPECT_EQ(m->weights().size(), 39u);
    EXPECT_EQ(m->parameterCount(), 1771200);
    int quantizable = 0;
    for (const auto& w : m->weights()) {
        quantizable += w.quantizable;
        EXPECT_EQ(w.dtype, DType::BF16);
        EXPECT_FALSE(w.transposed);
    }
    EXPECT_EQ(quantizable, 28);
    EXPECT_EQ(m->quantizableParameterCount(), 4 * (2 * 192 * 192 + 2 * 64 * 192 + 3 * 512 * 192));

    const ModelConfig& c = m->config();
    EXPECT_EQ(c.modelType, "llama");
    EXPECT_EQ(c.arch, Architecture::Llama);
    EXPECT_EQ(c.hiddenSize, 192);
    EXPECT_EQ(c.numHeads, 6);
    EXPECT_EQ(c.numKvHeads, 2);
    EXPECT_EQ(c.headDim, 32);
    EXPECT_EQ(c.numLayers, 4);
    EXPECT_EQ(c.intermediateSize, 512);
    EXPECT_EQ(c.vocabSize, 512);
    EXPECT_EQ(c.maxPositions, 512);
    EXPECT_DOUBLE_EQ(c.rmsNormEps, 1e-5);
    EXPECT_DOUBLE_EQ(c.ropeTheta, 10000.0);
    EXPECT_FALSE(c.tieWordEmbeddings);
    EXPECT_FALSE(c.attentionBias);
    EXPECT_EQ(c.hiddenAct, "silu");
    EXPECT_EQ(c.raw["torch_dtype"], "bfloat16");

    const WeightInfo* down = m->find("model.layers.3.mlp.down_proj.weight");
    ASSERT_NE(down, nullptr);
    EXPECT_EQ(down->role, WeightRole::Linear);
    EXPECT_EQ(down->layerIndex, 3);
    EXPECT_EQ(down->shape, (Shape{192, 512}));
    EXPECT_EQ(m->find("model.embed_tokens.weight")->role, WeightRole::Embedding);
    EXPECT_EQ(m->find("lm_head.weight")->role, WeightRole::Head);
    EXPECT_FALSE(m->find("lm_head.weight")->quantizable);
    EXPECT_EQ(m->find("model.norm.weight")->role, WeightRole::Norm);
    EXPECT_EQ(m->find("model.layers.0.input_layernorm.weight")->role, WeightRole::Norm);
    EXPECT_EQ(m->find("model.layers.0.input_layernorm.weight")->layerIndex, 0);
    EXPECT_EQ(m->find("model.layers.2.post_attention_layernorm.weight")->role, WeightRole::Norm);
    EXPECT_EQ(m->find("nope"), nullptr);
    EXPECT_THROW(m->weight("nope"), Error);
}

TEST(ModelTest, Bf16WeightsUpcastExactly) {
    // Independent of the reader: parse the header here and widen the raw bits (f32_bits = bf16_bits << 16).
    const std::string file = readWholeFile(qs::test::tinyLlama() / "model.safetensors");
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = n << 8 | static_cast<unsigned char>(file[i]);
    const json header = json::parse(file.substr(8, n));
    const auto m = openModel(qs::test::tinyLlama());
    for (const char* name :
         {"model.layers.1.mlp.down_proj.weight", "model.embed_tokens.weight", "model.norm.weight"}) {
        const auto& e = header.at(name);
        const std::size_t begin = 8 + n + e["data_offsets"][0].get<std::size_t>();
        const std::size_t count =
            (e["data_offsets"][1].get<std::size_t>() - e["data_offsets"][0].get<std::size_t>()) / 2;
        const auto got = m->weightAsOutIn(*m->find(name));
        ASSERT_EQ(got.size(), count) << name;
        for (std::size_t i = 0; i < count; ++i) {
            std::uint16_t h;
            std::memcpy(&h, file.data() + begin + 2 * i, 2);
            const std::uint32_t want = static_cast<std::uint32_t>(h) << 16;
            std::uint32_t have;
            std::memcpy(&have, &got[i], 4);
            ASSERT_EQ(have, want) << name << " " << i;
        }
    }
}

TEST(ModelTest, ShardedDirectoryLoadsTheSame) {
    const fs::path dir = testDir();
    writeShardedCopy(dir);
    const auto sharded = openModel(dir);
    const auto single = openModel(qs::test::tinyLlama());
    ASSERT_EQ(sharded->weights().size(), 39u);
    EXPECT_EQ(sharded->parameterCount(), 1771200);
    EXPECT_EQ(sharded->quantizableParameterCount(), single->quantizableParameterCount());
    std::set<std::string> names;
    for (const auto& w : sharded->weights()) {
        names.insert(w.name);
        const WeightInfo* s = single->find(w.name);
        ASSERT_NE(s, nullptr) << w.name;
        EXPECT_EQ(w.shape, s->shape);
        EXPECT_EQ(w.role, s->role);
        EXPECT_EQ(w.quantizable, s->quantizable);
        EXPECT_EQ(sharded->weightAsOutIn(w), single->weightAsOutIn(*s)) << w.name;
    }
    EXPECT_EQ(names.size(), 39u);
}

TEST(ModelTest, ShardedIndexErrors) {
    {
        const fs::path dir = testDir() / "missing";
        fs::create_directories(dir);
        writeShardedCopy(dir);
        fs::remove(dir / "model-00002-of-00002.safetensors");
        expectError([&] { openModel(dir); },
                    {"model.safetensors.index.json", "model-00002-of-00002.safetensors", "not found"});
    }
    {
        const fs::path dir = testDir() / "wrongshard";
        fs::create_directories(dir);
        writeShardedCopy(dir);
        json index = json::parse(readWholeFile(dir / "model.safetensors.index.json"));
        index["weight_map"]["lm_head.weight"] = "model-00002-of-00002.safetensors"; // it is in shard 1
        writeText(dir / "model.safetensors.index.json", index.dump());
        expectError([&] { openModel(dir); }, {"missing from this shard", "of-00002.safetensors"});
    }
    {
        const fs::path dir = testDir() / "escape";
        fs::create_directories(dir);
        writeShardedCopy(dir, {{"weight_map", {{"lm_head.weight", "../model.safetensors"}}}});
        expectError([&] { openModel(dir); }, {"outside the model directory"});
    }
    {
        const fs::path dir = testDir() / "nomap";
        fs::create_directories(dir);
        writeShardedCopy(dir, {{"metadata", json::object()}});
        expectError([&] { openModel(dir); }, {"model.safetensors.index.json", "weight_map"});
    }
    {
        const fs::path dir = testDir() / "notjson";
        fs::create_directories(dir);
        writeShardedCopy(dir);
        writeText(dir / "model.safetensors.index.json", "{\"weight_map\": ");
        expectError([&] { openModel(dir); }, {"model.safetensors.index.json", "not valid JSON"});
    }
}

TEST(ModelTest, DirectoryLayouts) {
    const fs::path root = testDir();
    // A single safetensors file under another name is accepted.
    const fs::path other = root / "other";
    fs::create_directories(other);
    fs::copy_file(qs::test::tinyLlama() / "config.json", other / "config.json");
    fs::copy_file(qs::test::tinyLlama() / "model.safetensors", other / "weights.safetensors");
    EXPECT_EQ(openModel(other)->weights().size(), 39u);
    // Two of them without an index are ambiguous.
    fs::copy_file(qs::test::tinyLlama() / "model.safetensors", other / "more.safetensors");
    expectError([&] { openModel(other); }, {"several", "more.safetensors", "weights.safetensors"});
    // No weights at all.
    const fs::path empty = root / "empty";
    fs::create_directories(empty);
    fs::copy_file(qs::test::tinyLlama() / "config.json", empty / "config.json");
    expectError([&] { openModel(empty); }, {"empty", "no model.safetensors"});
    // No config.
    const fs::path noConfig = root / "noconfig";
    fs::create_directories(noConfig);
    expectError([&] { openModel(noConfig); }, {"noconfig", "config.json"});
    // Missing path, unsupported files.
    expectError([&] { openModel(root / "absent"); }, {"absent", "no such file"});
    writeText(root / "m.gguf", "GGUF");
    expectError([&] { openModel(root / "m.gguf"); }, {"m.gguf", "truncated"}); // GGUF magic, no header
    writeText(root / "m.onnx", "x");
    expectError([&] { openModel(root / "m.onnx"); }, {"m.onnx", "not a valid ONNX model"});
    expectError([&] { openModel(qs::test::tinyLlama() / "model.safetensors"); }, {"config.json"});
}

TEST(ModelTest, MissingConfigKeyNamesFileAndKey) {
    const fs::path dir = testDir();
    json c = fixtureConfig();
    c.erase("hidden_size");
    writeText(dir / "config.json", c.dump());
    fs::copy_file(qs::test::tinyLlama() / "model.safetensors", dir / "model.safetensors");
    expectError([&] { openModel(dir); }, {(dir / "config.json").string(), "'hidden_size'", "missing"});
    writeText(dir / "config.json", "{ not json");
    expectError([&] { openModel(dir); }, {"config.json", "not valid JSON"});
}

TEST(ModelConfigTest, ValidatesKeysAndTypes) {
    // The fixture config with one key replaced, or removed when `value` is empty.
    auto with = [](const char* key, std::optional<json> value) {
        json c = fixtureConfig();
        if (value)
            c[key] = *value;
        else
            c.erase(key);
        return c;
    };
    const std::optional<json> drop;
    expectError([&] { ModelConfig::fromJson(with("hidden_size", "192"), "cfg.json"); },
                {"cfg.json", "'hidden_size'", "integer"});
    expectError([&] { ModelConfig::fromJson(with("hidden_size", 192.5), "cfg.json"); },
                {"'hidden_size'", "integer"});
    expectError([&] { ModelConfig::fromJson(with("num_hidden_layers", -4), "cfg.json"); },
                {"'num_hidden_layers'", "positive"});
    expectError([&] { ModelConfig::fromJson(with("num_attention_heads", 0), "cfg.json"); },
                {"'num_attention_heads'", "positive"});
    expectError([&] { ModelConfig::fromJson(with("vocab_size", 1e12), "cfg.json"); }, {"'vocab_size'"});
    expectError([&] { ModelConfig::fromJson(with("vocab_size", 4294967296ll), "cfg.json"); },
                {"'vocab_size'"});
    expectError([&] { ModelConfig::fromJson(with("intermediate_size", drop), "cfg.json"); },
                {"'intermediate_size'", "missing"});
    expectError([&] { ModelConfig::fromJson(with("num_key_value_heads", 4), "cfg.json"); },
                {"'num_key_value_heads'", "divide"});
    expectError([&] { ModelConfig::fromJson(with("rms_norm_eps", "small"), "cfg.json"); },
                {"'rms_norm_eps'", "number"});
    expectError([&] { ModelConfig::fromJson(with("rope_theta", -1.0), "cfg.json"); },
                {"'rope_theta'", "positive"});
    expectError([&] { ModelConfig::fromJson(with("tie_word_embeddings", 1), "cfg.json"); },
                {"'tie_word_embeddings'"});
    expectError([&] { ModelConfig::fromJson(with("model_type", "bert"), "cfg.json"); },
                {"cfg.json", "'bert'", "llama", "mistral", "qwen2", "gpt2"});
    expectError([&] { ModelConfig::fromJson(with("model_type", drop), "cfg.json"); },
                {"'model_type'", "missing"});
    expectError([&] { ModelConfig::fromJson(json::array(), "cfg.json"); }, {"cfg.json", "not a JSON object"});
    // head_dim absent: heads must divide hidden.
    json c = with("head_dim", drop);
    c["num_attention_heads"] = 5;
    c["num_key_value_heads"] = 5;
    expectError([&] { ModelConfig::fromJson(c, "cfg.json"); }, {"'num_attention_heads'", "divide"});
    // ...but an explicit head_dim makes any head count fine.
    c["head_dim"] = 40;
    EXPECT_EQ(ModelConfig::fromJson(c, "cfg.json").headDim, 40);
}

TEST(ModelConfigTest, DefaultsPerModelType) {
    const json mistral = {{"model_type", "mistral"},  {"hidden_size", 256},       {"num_hidden_layers", 2},
                          {"num_attention_heads", 8}, {"intermediate_size", 512}, {"vocab_size", 100},
                          {"head_dim", nullptr},      {"rope_theta", nullptr}};
    const ModelConfig m = ModelConfig::fromJson(mistral, "m");
    EXPECT_EQ(m.arch, Architecture::Mistral);
    EXPECT_EQ(m.headDim, 32);
    EXPECT_EQ(m.numKvHeads, 8);
    EXPECT_DOUBLE_EQ(m.ropeTheta, 10000.0);
    EXPECT_FALSE(m.attentionBias);
    EXPECT_FALSE(m.tieWordEmbeddings);

    json qwen = mistral;
    qwen["model_type"] = "qwen2";
    qwen["num_key_value_heads"] = 2;
    qwen["rope_theta"] = 1000000.0;
    qwen["tie_word_embeddings"] = true;
    const ModelConfig q = ModelConfig::fromJson(qwen, "q");
    EXPECT_EQ(q.arch, Architecture::Qwen2);
    EXPECT_TRUE(q.attentionBias);
    EXPECT_EQ(q.numKvHeads, 2);
    EXPECT_DOUBLE_EQ(q.ropeTheta, 1e6);
    EXPECT_TRUE(q.tieWordEmbeddings);

    const json gpt2 = {
        {"model_type", "gpt2"}, {"n_embd", 768},       {"n_layer", 12},      {"n_head", 12},
        {"n_positions", 1024},  {"vocab_size", 50257}, {"n_inner", nullptr}, {"layer_norm_epsilon", 1e-5}};
    const ModelConfig g = ModelConfig::fromJson(gpt2, "g");
    EXPECT_EQ(g.arch, Architecture::Gpt2);
    EXPECT_EQ(g.hiddenSize, 768);
    EXPECT_EQ(g.numLayers, 12);
    EXPECT_EQ(g.numHeads, 12);
    EXPECT_EQ(g.numKvHeads, 12);
    EXPECT_EQ(g.headDim, 64);
    EXPECT_EQ(g.intermediateSize, 3072);
    EXPECT_EQ(g.maxPositions, 1024);
    EXPECT_DOUBLE_EQ(g.rmsNormEps, 1e-5);
    EXPECT_TRUE(g.tieWordEmbeddings);
    EXPECT_EQ(g.hiddenAct, "gelu_new");
    json g2 = gpt2;
    g2["n_inner"] = 1000;
    EXPECT_EQ(ModelConfig::fromJson(g2, "g").intermediateSize, 1000);
    g2.erase("n_embd");
    expectError([&] { ModelConfig::fromJson(g2, "g.json"); }, {"g.json", "'n_embd'"});
    g2["n_embd"] = 100;
    g2["n_head"] = 3;
    expectError([&] { ModelConfig::fromJson(g2, "g.json"); }, {"'n_head'", "divide"});
}

TEST(ModelTest, ClassifiesLlamaNames) {
    const auto c = [](const std::string& n, Shape s = {4, 4}) {
        return classifyWeight(Architecture::Qwen2, n, DType::F32, s);
    };
    EXPECT_EQ(c("model.layers.12.mlp.up_proj.weight").layerIndex, 12);
    EXPECT_TRUE(c("model.layers.12.mlp.up_proj.weight").quantizable);
    EXPECT_TRUE(c("model.layers.0.self_attn.o_proj.weight").quantizable);
    EXPECT_FALSE(c("model.layers.0.self_attn.o_proj.weight", {16}).quantizable); // only matrices
    const WeightInfo bias = c("model.layers.3.self_attn.q_proj.bias", {4});
    EXPECT_EQ(bias.role, WeightRole::Bias);
    EXPECT_EQ(bias.layerIndex, 3);
    EXPECT_FALSE(bias.quantizable);
    EXPECT_EQ(c("model.layers.x.mlp.up_proj.weight").role, WeightRole::Other);
    EXPECT_EQ(c("model.layers.x.mlp.up_proj.weight").layerIndex, -1);
    EXPECT_EQ(c("model.layers.99999999999.mlp.up_proj.weight").layerIndex, -1);
    EXPECT_EQ(c("model.layers.1.self_attn.rotary_emb.inv_freq", {2}).role, WeightRole::Other);
    EXPECT_STREQ(weightRoleName(WeightRole::Linear), "linear");
    EXPECT_STREQ(weightRoleName(WeightRole::Embedding), "embedding");
    EXPECT_STREQ(weightRoleName(WeightRole::Norm), "norm");
    EXPECT_STREQ(weightRoleName(WeightRole::Bias), "bias");
    EXPECT_STREQ(weightRoleName(WeightRole::Head), "head");
    EXPECT_STREQ(weightRoleName(WeightRole::Other), "other");
}

TEST(ModelTest, Gpt2DirectoryIsClassifiedAndTransposedBack) {
    const fs::path dir = testDir();
    writeTinyGpt2(dir);
    const auto m = openModel(dir);
    EXPECT_EQ(m->config().arch, Architecture::Gpt2);
    EXPECT_EQ(m->config().intermediateSize, 32);
    EXPECT_EQ(m->weights().size(), 4u + 2 * 13);
    int linears = 0;
    for (const auto& w : m->weights())
        linears += w.quantizable;
    EXPECT_EQ(linears, 8);
    EXPECT_EQ(m->quantizableParameterCount(), 2 * (8 * 24 + 8 * 8 + 8 * 32 + 32 * 8));

    EXPECT_EQ(m->find("transformer.wte.weight")->role, WeightRole::Embedding);
    EXPECT_EQ(m->find("transformer.wpe.weight")->role, WeightRole::Embedding);
    EXPECT_EQ(m->find("transformer.ln_f.weight")->role, WeightRole::Norm);
    EXPECT_EQ(m->find("transformer.h.1.ln_2.bias")->role, WeightRole::Norm);
    EXPECT_EQ(m->find("transformer.h.1.mlp.c_fc.bias")->role, WeightRole::Bias);
    EXPECT_EQ(m->find("transformer.h.1.attn.bias")->role, WeightRole::Other); // mask buffer
    EXPECT_FALSE(m->find("transformer.h.1.attn.bias")->quantizable);

    const WeightInfo& fc = *m->find("transformer.h.1.mlp.c_fc.weight");
    EXPECT_EQ(fc.role, WeightRole::Linear);
    EXPECT_EQ(fc.layerIndex, 1);
    EXPECT_TRUE(fc.transposed);
    EXPECT_EQ(fc.matrixRows(), 32);
    EXPECT_EQ(fc.matrixCols(), 8);
    const auto stored = m->weight(fc.name).toFloats(); // [in 8, out 32]
    const auto outIn = m->weightAsOutIn(fc);           // [out 32, in 8]
    ASSERT_EQ(outIn.size(), 256u);
    for (int o = 0; o < 32; ++o)
        for (int i = 0; i < 8; ++i)
            ASSERT_EQ(outIn[o * 8 + i], stored[i * 32 + o]);

    // Names without the "transformer." prefix and a (tied) lm_head.
    const auto c = [](const std::string& n, Shape s = {8, 8}) {
        return classifyWeight(Architecture::Gpt2, n, DType::F32, s);
    };
    EXPECT_TRUE(c("h.0.attn.c_attn.weight").quantizable);
    EXPECT_TRUE(c("h.0.attn.c_attn.weight").transposed);
    EXPECT_TRUE(c("h.5.mlp.c_proj.weight").quantizable);
    EXPECT_EQ(c("h.5.mlp.c_proj.weight").layerIndex, 5);
    EXPECT_EQ(c("wte.weight").role, WeightRole::Embedding);
    EXPECT_EQ(c("ln_f.bias", {8}).role, WeightRole::Norm);
    EXPECT_EQ(c("h.0.attn.c_proj.bias", {8}).role, WeightRole::Bias);
    EXPECT_EQ(c("lm_head.weight").role, WeightRole::Head);
    EXPECT_FALSE(c("lm_head.weight").quantizable);
}
