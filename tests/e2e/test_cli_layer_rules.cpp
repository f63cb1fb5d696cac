// SPDX-License-Identifier: MIT
// Per-layer recipes through every face of the CLI: eval --recipe / --layer, sweep grid points and the
// exports (llama.cpp tensor types, GGUF per-tensor types, packed safetensors), against
// shared/fixtures/tinyllama-bpe512/reference_mixed.json.
#include "../core/fixture_paths.h"
#include "cli_runner.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "model/model.h"

#include <fstream>
#include <gtest/gtest.h>
#include <map>

using namespace qs::test;

namespace {

const std::string kModel = tinyLlama().string();
const std::string kTokens = (tinyLlama() / "ref_test_tokens.npy").string();
const std::string kRecipe = (tinyLlama() / "recipe_mixed.json").string();
const std::string kFlags =
    " --format int4 --group 32 --asym --layer '*.mlp.down_proj=int8:channel:sym' --layer 'model.layers.0.*=keep'";

const nlohmann::json& mixedReference() {
    static const nlohmann::json j = nlohmann::json::parse(std::ifstream(tinyLlama() / "reference_mixed.json"));
    return j;
}

} // namespace

TEST(CliLayerRules, RecipeFileAndLayerFlagsGiveTheReferencePerplexityAndOneKey) {
    const CliRun file = runCli("eval " + q(kModel) + " --data " + q(kTokens) + " --ctx 128 --windows 64 --recipe " +
                               q(kRecipe) + " --json");
    ASSERT_EQ(file.exitCode, 0) << file.out;
    const auto f = file.json();
    EXPECT_LT(relErr(f["perplexity"].get<double>(), mixedReference()["ppl"].get<double>()), 1e-4) << f["perplexity"];
    EXPECT_DOUBLE_EQ(f["bits_per_weight"].get<double>(), mixedReference()["bits_per_weight"].get<double>());
    const CliRun flags = runCli("eval " + q(kModel) + " --data " + q(kTokens) + " --ctx 128 --windows 64" + kFlags + " --json");
    ASSERT_EQ(flags.exitCode, 0) << flags.out;
    const auto g = flags.json();
    EXPECT_EQ(g["recipe"], f["recipe"]);
    EXPECT_EQ(g["perplexity"], f["perplexity"]);
    ASSERT_TRUE(f["recipe"].contains("layers"));
    EXPECT_EQ(f["recipe"]["layers"].size(), 2u);
}

TEST(CliLayerRules, QuantizeReportsEachWeightsAssignmentAndBits) {
    const CliRun r = runCli("quantize " + q(kModel) + kFlags + " --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const auto j = r.json();
    EXPECT_DOUBLE_EQ(j["bits_per_weight"].get<double>(), mixedReference()["bits_per_weight"].get<double>());
    std::map<std::string, nlohmann::json> byName;
    for (const auto& l : j["layers"]) byName[l["name"].get<std::string>()] = l;
    for (const auto& want : mixedReference()["per_weight"]) {
        const auto& got = byName.at(want["name"].get<std::string>());
        EXPECT_DOUBLE_EQ(got["bits_per_weight"].get<double>(), want["bits_per_weight"].get<double>()) << want["name"];
        EXPECT_EQ(got["kept"].get<bool>(), want["assignment"] == "keep (BF16)") << want["name"];
    }
    EXPECT_EQ(byName.at("model.layers.2.mlp.down_proj.weight")["assignment"], "rtn int8 sym channel");
}

TEST(CliLayerRules, ARuleThatMatchesNothingFailsNamingTheRuleAndTheModel) {
    const CliRun r = runCli("quantize " + q(kModel) + " --format int4 --layer '*.mlp.dwn_proj=int8' --json");
    EXPECT_EQ(r.exitCode, 1);
    const std::string e = r.json()["error"].get<std::string>();
    EXPECT_NE(e.find("*.mlp.dwn_proj"), std::string::npos) << e;
    EXPECT_NE(e.find("tinyllama-bpe512"), std::string::npos) << e;
}

TEST(CliLayerRules, ASweepGridPointHasTheSameKeyAndNumbers) {
    const auto dir = outputDir("cli_layer_rules_sweep");
    std::ofstream(dir / "grid.json") << R"({"format": "int4", "group": 32, "asym": true,
        "layer": [["*.mlp.down_proj=int8:channel:sym", "model.layers.0.*=keep"], "*.mlp.*=int8"]})";
    const CliRun s = runCli("sweep " + q(kModel) + " --grid " + q((dir / "grid.json").string()) + " --data " +
                            q(kTokens) + " --project " + q((dir / "p.qsproj").string()) + " --ctx 128 --windows 8 --json");
    ASSERT_EQ(s.exitCode, 0) << s.out;
    const auto runs = s.json()["runs"];
    ASSERT_EQ(runs.size(), 2u);
    const CliRun e = runCli("eval " + q(kModel) + " --data " + q(kTokens) + " --ctx 128 --windows 8 --recipe " +
                            q(kRecipe) + " --json");
    ASSERT_EQ(e.exitCode, 0) << e.out;
    const auto j = e.json();
    EXPECT_EQ(runs[0]["recipe"], j["recipe"]);
    EXPECT_LT(relErr(runs[0]["perplexity"].get<double>(), j["perplexity"].get<double>()), 1e-12);
    EXPECT_DOUBLE_EQ(runs[0]["bits_per_weight"].get<double>(), mixedReference()["bits_per_weight"].get<double>());
    // The stored run re-exports as the same recipe.
    const CliRun x = runCli("export " + q((dir / "p.qsproj").string()) + " --run " +
                            std::to_string(runs[0]["run_id"].get<long long>()) + " --out " +
                            q((dir / "r.json").string()) + " --as recipe --json");
    ASSERT_EQ(x.exitCode, 0) << x.out;
    EXPECT_EQ(nlohmann::json::parse(std::ifstream(dir / "r.json")), j["recipe"]);
}

TEST(CliLayerRules, LlamaOverridesNameEachTensorsType) {
    const auto dir = outputDir("cli_layer_rules_overrides");
    const CliRun r = runCli("export " + q(kModel) + " --recipe " + q(kRecipe) + " --out " + q((dir / "o.txt").string()) +
                            " --as llama-overrides --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    std::map<std::string, std::string> type;
    std::ifstream in(dir / "o.txt");
    for (std::string line; std::getline(in, line);)
        if (line.starts_with("--tensor-type ")) {
            const auto eq = line.find('=');
            type[line.substr(14, eq - 14)] = line.substr(eq + 1);
        }
    // Kept layer 0 at its stored BF16; int4 g32 asym is llama.cpp's q4_1; int8 per channel has no
    // GGUF type (blocks of 32) and is listed as a comment with the reason.
    EXPECT_EQ(type.at("blk.0.attn_q.weight"), "bf16");
    EXPECT_EQ(type.at("blk.0.ffn_down.weight"), "bf16");
    EXPECT_EQ(type.at("blk.1.attn_q.weight"), "q4_1");
    EXPECT_EQ(type.at("blk.3.ffn_gate.weight"), "q4_1");
    EXPECT_EQ(type.count("blk.1.ffn_down.weight"), 0u);
    EXPECT_EQ(type.size(), 7u + 18u);
    EXPECT_EQ(r.json()["unmapped"].size(), 3u);
}

TEST(CliLayerRules, GgufHoldsPerTensorTypes) {
    const auto dir = outputDir("cli_layer_rules_gguf");
    const CliRun r = runCli("export " + q(kModel) + " --recipe " + q(kRecipe) + " --out " + q((dir / "m.gguf").string()) +
                            " --as gguf --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    EXPECT_EQ(r.json()["gguf_type"], "per-tensor");
    const auto f = qs::core::GgufFile::open(dir / "m.gguf");
    std::map<std::string, qs::core::GgufType> types;
    for (const auto& t : f.tensors()) types[t.name] = t.type;
    EXPECT_EQ(types.at("blk.0.attn_k.weight"), qs::core::GgufType::BF16);
    EXPECT_EQ(types.at("blk.2.attn_v.weight"), qs::core::GgufType::Q4_1);
    EXPECT_EQ(types.at("blk.2.ffn_down.weight"), qs::core::GgufType::F16);
    EXPECT_EQ(types.at("token_embd.weight"), qs::core::GgufType::F16);
    // A kept BF16 weight is stored exactly.
    const auto m = qs::core::openModel(kModel);
    const auto* w = m->find("model.layers.0.mlp.down_proj.weight");
    const auto original = m->weightAsOutIn(*w);
    const auto got = f.dequantize("blk.0.ffn_down.weight");
    EXPECT_EQ(got, original);
}

TEST(CliLayerRules, PackedSafetensorsCarryEachWeightsOwnBits) {
    const auto dir = outputDir("cli_layer_rules_packed");
    const CliRun r = runCli("export " + q(kModel) + " --recipe " + q(kRecipe) + " --out " + q((dir / "p").string()) +
                            " --as safetensors-packed --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const auto cfg = r.json()["quantization_config"];
    EXPECT_EQ(cfg["per_layer"]["model.layers.1.mlp.down_proj.weight"]["bits"], 8);
    EXPECT_EQ(cfg["per_layer"]["model.layers.1.mlp.up_proj.weight"]["bits"], 4);
    EXPECT_FALSE(cfg["per_layer"].contains("model.layers.0.mlp.up_proj.weight")); // kept
    const auto st = qs::core::SafetensorsFile::open(dir / "p" / "model.safetensors");
    EXPECT_NE(st.find("model.layers.0.mlp.up_proj.weight"), nullptr);
    EXPECT_NE(st.find("model.layers.1.mlp.down_proj.weight.qweight"), nullptr);
    EXPECT_EQ(st.find("model.layers.1.mlp.down_proj.weight.zeros"), nullptr); // symmetric
    EXPECT_NE(st.find("model.layers.1.mlp.up_proj.weight.zeros"), nullptr);   // asymmetric
}
