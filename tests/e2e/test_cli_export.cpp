// SPDX-License-Identifier: MIT
// `quantscope-cli export`: every kind re-read with the project's own readers, values checked by hand.
#include "../core/fixture_paths.h"
#include "cli_runner.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "tensor/half.h"

#include <cmath>
#include <fstream>
#include <gtest/gtest.h>

using namespace qs::test;

namespace {

const std::string kModel = tinyLlama().string();
const std::string kTokens = (tinyLlama() / "ref_test_tokens.npy").string();
const std::string kLayer = "model.layers.1.mlp.down_proj.weight";

// RTN INT-k symmetric per group of 32 as the fixtures define it (scale = amax / (2^(k-1)-1), round half even).
std::vector<float> rtnSym(const std::vector<float>& w, std::int64_t cols, int k, int group) {
    std::vector<float> out(w.size());
    const float qmax = static_cast<float>((1 << (k - 1)) - 1);
    for (std::size_t g0 = 0; g0 < w.size(); g0 += group) {
        float amax = 0;
        for (int i = 0; i < group; ++i) amax = std::max(amax, std::fabs(w[g0 + i]));
        const float s = amax > 0 ? amax / qmax : 1.0f;
        for (int i = 0; i < group; ++i) out[g0 + i] = s * std::nearbyint(w[g0 + i] / s);
    }
    (void)cols;
    return out;
}

std::vector<float> original(const std::string& name) {
    const auto m = qs::core::openModel(kModel);
    return m->weightAsOutIn(*m->find(name));
}

std::string exportRecipe(const std::filesystem::path& dir, const std::string& recipeJson, const std::string& as,
                         const std::filesystem::path& out, const std::string& extra = "") {
    const auto r = dir / "recipe.json";
    std::ofstream(r) << recipeJson;
    const CliRun e = runCli("export " + q(kModel) + " --recipe " + q(r.string()) + " --out " + q(out.string()) +
                            " --as " + as + extra + " --json");
    EXPECT_EQ(e.exitCode, 0) << e.out;
    return e.out;
}

} // namespace

TEST(CliExport, RecipeOfAStoredRunReimportsToTheSamePerplexity) {
    const auto dir = outputDir("cli_export_recipe");
    const auto project = dir / "p.qsproj";
    std::ofstream(dir / "grid.json") << R"({"format": "int4", "group": 32, "asym": true, "act-quant": "int8:token"})";
    const CliRun s = runCli("sweep " + q(kModel) + " --grid " + q((dir / "grid.json").string()) + " --data " +
                            q(kTokens) + " --project " + q(project.string()) + " --ctx 64 --windows 8 --json");
    ASSERT_EQ(s.exitCode, 0) << s.out;
    const auto run = s.json()["runs"][0];
    const auto out = dir / "r.json";
    const CliRun e = runCli("export " + q(project.string()) + " --run " + std::to_string(run["run_id"].get<int>()) +
                            " --out " + q(out.string()) + " --as recipe --json");
    ASSERT_EQ(e.exitCode, 0) << e.out;
    const CliRun ev = runCli("eval " + q(kModel) + " --data " + q(kTokens) + " --ctx 64 --windows 8 --recipe " +
                             q(out.string()) + " --json");
    ASSERT_EQ(ev.exitCode, 0) << ev.out;
    EXPECT_NEAR(ev.json()["perplexity"].get<double>(), run["perplexity"].get<double>(), 1e-9);
    // and matches the same recipe given as flags
    const CliRun flags = runCli("eval " + q(kModel) + " --data " + q(kTokens) +
                                " --ctx 64 --windows 8 --format int4 --group 32 --asym --act-quant int8:token --json");
    EXPECT_NEAR(flags.json()["perplexity"].get<double>(), run["perplexity"].get<double>(), 1e-9);
}

TEST(CliExport, SafetensorsHoldsTheRtnValues) {
    const auto dir = outputDir("cli_export_st");
    exportRecipe(dir, R"({"format": "int4", "granularity": "group", "group": 32, "sym": true})", "safetensors",
                 dir / "hf");
    const auto st = qs::core::SafetensorsFile::open(dir / "hf" / "model.safetensors");
    const auto got = st.tensor(kLayer).toFloats();
    const auto want = rtnSym(original(kLayer), 0, 4, 32);
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i) ASSERT_FLOAT_EQ(got[i], want[i]) << i;
}

TEST(CliExport, PackedCodesAndScalesDecodeToTheRtnValues) {
    const auto dir = outputDir("cli_export_packed");
    exportRecipe(dir, R"({"format": "int4", "granularity": "group", "group": 32, "sym": true})", "safetensors-packed",
                 dir / "packed");
    const auto st = qs::core::SafetensorsFile::open(dir / "packed" / "model.safetensors");
    const auto qw = st.tensor(kLayer + ".qweight");
    const auto sc = st.tensor(kLayer + ".scales");
    ASSERT_EQ(qw.dtype(), qs::core::DType::U8);
    const auto rows = qw.shape()[0], half = qw.shape()[1], groups = sc.shape()[1];
    const auto cols = 2 * half;
    const auto want = rtnSym(original(kLayer), cols, 4, 32);
    const auto* codes = qw.data<std::uint8_t>();
    const auto* scales = sc.data<float>();
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c) {
            const int b = codes[r * half + c / 2];
            const int code = c % 2 ? b >> 4 : b & 15;
            const float v = scales[r * groups + c / 32] * static_cast<float>(code - 8);
            ASSERT_FLOAT_EQ(v, want[r * cols + c]) << r << "," << c;
        }
    EXPECT_TRUE(std::filesystem::exists(dir / "packed" / "quantization_config.json"));
}

TEST(CliExport, GgufQ8_0IsHandComputedBlocksOfTheRecipeValues) {
    const auto dir = outputDir("cli_export_gguf");
    exportRecipe(dir, R"({"format": "int8", "granularity": "group", "group": 32, "sym": true})", "gguf",
                 dir / "m.gguf", " --gguf-type q8_0");
    const auto m = qs::core::openModel(dir / "m.gguf"); // GgufModel: HF names and layout
    const auto got = m->weightAsOutIn(*m->find(kLayer));
    const auto recipeValues = rtnSym(original(kLayer), 0, 8, 32);
    ASSERT_EQ(got.size(), recipeValues.size());
    for (std::size_t g0 = 0; g0 < got.size(); g0 += 32) {
        float amax = 0;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(recipeValues[g0 + i]));
        const float d = qs::core::f16ToF32(qs::core::f32ToF16(amax / 127.0f));
        const float id = amax > 0 ? 127.0f / amax : 0.0f;
        for (int i = 0; i < 32; ++i) {
            const float want = d * std::roundf(recipeValues[g0 + i] * id);
            ASSERT_FLOAT_EQ(got[g0 + i], want) << g0 + i;
        }
    }
}

TEST(CliExport, LlamaOverridesMapWhatMapsAndSayWhatDoesNot) {
    const auto dir = outputDir("cli_export_overrides");
    const std::string j = exportRecipe(dir, R"({"format": "int8", "granularity": "group", "group": 32})",
                                       "llama-overrides", dir / "o.txt");
    std::ifstream in(dir / "o.txt");
    std::string line;
    int lines = 0;
    while (std::getline(in, line))
        if (line.starts_with("--tensor-type ")) {
            ++lines;
            EXPECT_TRUE(line.ends_with("=q8_0")) << line;
        }
    EXPECT_EQ(lines, 28);
    const std::string k = exportRecipe(dir, R"({"format": "int3", "granularity": "group", "group": 128})",
                                       "llama-overrides", dir / "o3.txt");
    const auto jk = nlohmann::json::parse(k);
    EXPECT_EQ(jk["mapped"].size(), 0u);
    EXPECT_EQ(jk["unmapped"].size(), 28u);
}
