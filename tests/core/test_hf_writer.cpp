// SPDX-License-Identifier: MIT
// Exporting a model as a Hugging Face directory and reading it back.
#include "export/hf_writer.h"
#include "fixture_paths.h"
#include "io/file_util.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "quant/fake_quant.h"
#include "quant/held_weights.h"
#include "base/error.h"
#include "tensor/half.h"

#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace qs::core;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::map<std::string, std::vector<float>> kNothingReplaced;

// f() throws an Error whose message holds `keyword`.
template <class F>
void expectError(F&& f, const char* keyword) {
    try {
        f();
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(keyword), std::string::npos) << e.what();
    }
}

fs::path testDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return qs::test::outputDir(std::string("hf_writer_") + info->name());
}

float roundTo(DType dt, float v) {
    if (dt == DType::F16) return f16ToF32(f32ToF16(v));
    if (dt == DType::BF16) return bf16ToF32(f32ToBf16(v));
    return v;
}

const char* torchName(DType dt) {
    return dt == DType::F32 ? "float32" : dt == DType::F16 ? "float16" : "bfloat16";
}

} // namespace

TEST(HfWriterTest, WritesEveryFloatTypeAndReadsBack) {
    const fs::path root = testDir();
    const auto src = openModel(qs::test::tinyLlama());
    const std::string down = "model.layers.1.mlp.down_proj.weight";
    std::vector<float> repl = src->weight(down).toFloats();
    for (std::size_t i = 0; i < repl.size(); ++i)
        repl[i] = repl[i] * 1.37f + 1e-4f * static_cast<float>(i % 7);
    const std::map<std::string, std::vector<float>> replaced{{down, repl}};

    for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
        const fs::path out = root / dtypeName(dt) / "model"; // parent directories are created
        writeHfModel(*src, replaced, out, dt);
        const auto m = openModel(out);
        ASSERT_EQ(m->weights().size(), 39u);
        EXPECT_EQ(m->parameterCount(), 1771200);
        for (const auto& w : m->weights()) {
            EXPECT_EQ(w.dtype, dt) << w.name;
            EXPECT_EQ(w.shape, src->find(w.name)->shape) << w.name;
        }
        // Replaced tensor: the given values rounded to the output type.
        const auto got = m->weight(down).toFloats();
        ASSERT_EQ(got.size(), repl.size());
        for (std::size_t i = 0; i < got.size(); ++i)
            ASSERT_EQ(got[i], roundTo(dt, repl[i])) << i;
        // Others: the stored values converted (bf16 -> f32/bf16 exact).
        for (const char* name :
             {"lm_head.weight", "model.layers.0.self_attn.q_proj.weight", "model.norm.weight"}) {
            const auto a = m->weight(name).toFloats();
            const auto b = src->weight(name).toFloats();
            ASSERT_EQ(a.size(), b.size());
            for (std::size_t i = 0; i < a.size(); ++i)
                ASSERT_EQ(a[i], roundTo(dt, b[i])) << name << " " << i;
        }
        // config.json: torch_dtype updated, everything else kept.
        const json cfg = json::parse(readWholeFile(out / "config.json"));
        EXPECT_EQ(cfg["torch_dtype"], torchName(dt));
        EXPECT_EQ(cfg["hidden_size"], 192);
        EXPECT_EQ(cfg["num_key_value_heads"], 2);
        EXPECT_EQ(m->config().headDim, 32);
        // Tokenizer files copied byte for byte; absent ones are not invented.
        for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
            EXPECT_EQ(readWholeFile(out / f), readWholeFile(qs::test::tinyLlama() / f)) << f;
        EXPECT_FALSE(fs::exists(out / "tokenizer.model"));
        EXPECT_EQ(SafetensorsFile::open(out / "model.safetensors").metadata().at("format"), "pt");
        // Nothing else (no temporary files) in the output directory.
        int files = 0;
        for (const auto& e : fs::directory_iterator(out))
            files += !e.path().filename().string().starts_with(".");
        int all = 0;
        for ([[maybe_unused]] const auto& e : fs::directory_iterator(out))
            ++all;
        EXPECT_EQ(files, 4);
        EXPECT_EQ(all, 4);
    }
}

TEST(HfWriterTest, OverwritesAnEarlierExport) {
    const fs::path out = testDir() / "model";
    const auto src = openModel(qs::test::tinyLlama());
    writeHfModel(*src, kNothingReplaced, out, DType::F32);
    writeHfModel(*src, kNothingReplaced, out, DType::BF16);
    const auto m = openModel(out);
    EXPECT_EQ(m->find("lm_head.weight")->dtype, DType::BF16);
    // bf16 -> bf16 keeps the stored bytes exactly.
    EXPECT_EQ(m->weight("lm_head.weight").toFloats(), src->weight("lm_head.weight").toFloats());
}

TEST(HfWriterTest, RejectsBadRequests) {
    const fs::path root = testDir();
    const auto src = openModel(qs::test::tinyLlama());
    expectError([&] { writeHfModel(*src, kNothingReplaced, root / "a", DType::I8); }, "F32, F16 or BF16");
    expectError([&] { writeHfModel(*src, kNothingReplaced, root / "a", DType::F8_E4M3); }, "F32, F16 or BF16");
    expectError([&] { writeHfModel(*src, kNothingReplaced, qs::test::tinyLlama(), DType::F32); }, "source model directory");
    expectError([&] { writeHfModel(*src, kNothingReplaced, qs::test::tinyLlama() / "." / "", DType::F32); },
                "source model directory");
    expectError([&] { writeHfModel(*src, {{"nope", {1.0f}}}, root / "a", DType::F32); }, "'nope'");
    expectError([&] { writeHfModel(*src, {{"model.norm.weight", {1.0f}}}, root / "a", DType::F32); }, "192");
    EXPECT_FALSE(fs::exists(root / "a")); // checks happen before anything is written

    // A stale sharded index in the target would shadow the new model.safetensors.
    fs::create_directories(root / "b");
    std::ofstream(root / "b" / "model.safetensors.index.json") << "{}";
    expectError([&] { writeHfModel(*src, kNothingReplaced, root / "b", DType::F32); }, "model.safetensors.index.json");
}

TEST(HfWriterTest, CancelLeavesNoPartialFiles) {
    const fs::path out = testDir() / "model";
    const auto src = openModel(qs::test::tinyLlama());
    CancelToken token;
    long long seen = 0;
    JobContext job;
    job.cancel = &token;
    job.progress = [&](long long, long long total, const std::string&) {
        EXPECT_EQ(total, 39);
        if (++seen == 10) token.cancel();
    };
    EXPECT_THROW(writeHfModel(*src, kNothingReplaced, out, DType::F16, job), Cancelled);
    EXPECT_TRUE(fs::is_directory(out));
    EXPECT_TRUE(fs::is_empty(out));
}

TEST(HfWriterTest, Gpt2ReplacedDataIsInStoredLayout) {
    const fs::path dir = testDir();
    fs::create_directories(dir / "src");
    std::ofstream(dir / "src" / "config.json")
        << R"({"model_type": "gpt2", "n_embd": 4, "n_layer": 1, "n_head": 2, "vocab_size": 6})";
    std::ofstream(dir / "src" / "merges.txt") << "#version: 0.2\n";
    std::vector<float> w(4 * 12), e(6 * 4);
    for (std::size_t i = 0; i < w.size(); ++i)
        w[i] = static_cast<float>(i);
    writeSafetensors(dir / "src" / "model.safetensors",
                     {{"h.0.attn.c_attn.weight", convertFloats(w.data(), {4, 12}, DType::F32)},
                      {"wte.weight", convertFloats(e.data(), {6, 4}, DType::F32)}});
    const auto src = openModel(dir / "src");
    std::vector<float> repl(w.size());
    for (std::size_t i = 0; i < repl.size(); ++i)
        repl[i] = -0.5f * static_cast<float>(i);
    writeHfModel(*src, {{"h.0.attn.c_attn.weight", repl}}, dir / "out", DType::F32);
    const auto m = openModel(dir / "out");
    EXPECT_EQ(m->weight("h.0.attn.c_attn.weight").shape(), (Shape{4, 12}));
    EXPECT_EQ(m->weight("h.0.attn.c_attn.weight").toFloats(), repl);
    EXPECT_EQ(readWholeFile(dir / "out" / "merges.txt"), "#version: 0.2\n");
    EXPECT_EQ(json::parse(readWholeFile(dir / "out" / "config.json"))["torch_dtype"], "float32");

    // Held compactly (codes -2i of a run down each column of the [in, out] Conv1D), the same values
    // (its -0 written as +0, as a held zero is).
    HeldWeights held;
    held.add(*src, "h.0.attn.c_attn.weight", repl);
    EXPECT_LT(held.bytes(), repl.size() * 4);
    writeHfModel(*src, held, dir / "held", DType::F32);
    EXPECT_EQ(openModel(dir / "held")->weight("h.0.attn.c_attn.weight").toFloats(), repl);
}

TEST(HfWriterTest, HeldWeightsWriteWhatTheirFloat32Writes) {
    // Every quantizable matrix of the tiny Llama replaced by its RTN int4 group-32 values (held as 4-bit
    // codes and a scale per 32), one by a float32 perturbation and the final norm by a vector (both
    // held as float32): the written model has the values the float32 map writes, from a held form of
    // the closed-form bytes.
    const fs::path root = testDir();
    const auto src = openModel(qs::test::tinyLlama());
    const std::string down = "model.layers.1.mlp.down_proj.weight";
    std::map<std::string, std::vector<float>> replaced;
    HeldWeights held;
    std::size_t bytes = 0;
    for (const WeightInfo& w : src->weights()) {
        std::vector<float> values = src->weight(w.name).toFloats();
        if (w.name == down || w.name == "model.norm.weight") {
            for (std::size_t i = 0; i < values.size(); ++i) values[i] = values[i] * 1.37f + 1e-4f * static_cast<float>(i % 7);
            bytes += values.size() * 4;
        } else if (w.quantizable && w.shape.size() == 2) {
            std::vector<float> q(values.size());
            fakeQuantize(values.data(), w.shape[0], w.shape[1], {FormatId::Int4, Granularity::Group, 32, true}, q.data());
            values = q;
            bytes += values.size() / 2 + 4 * values.size() / 32;
        } else {
            continue;
        }
        held.add(*src, w.name, values);
        replaced[w.name] = std::move(values);
    }
    EXPECT_EQ(held.bytes(), bytes);
    for (DType dt : {DType::F32, DType::BF16}) {
        writeHfModel(*src, replaced, root / "map" / dtypeName(dt), dt);
        writeHfModel(*src, held, root / "held" / dtypeName(dt), dt);
        const auto a = openModel(root / "map" / dtypeName(dt)), b = openModel(root / "held" / dtypeName(dt));
        for (const WeightInfo& w : src->weights())
            EXPECT_TRUE(a->weight(w.name).toFloats() == b->weight(w.name).toFloats()) << w.name; // -0 == +0
    }
    // A count that does not match the shape, or a name the model lacks, is an error naming them.
    expectError([&] { held.add(*src, "model.norm.weight", std::vector<float>(3)); }, "192");
    expectError([&] { held.add(*src, "nope", std::vector<float>(3)); }, "'nope'");
}
