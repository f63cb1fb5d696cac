// SPDX-License-Identifier: MIT
// `--method TRANSFORM+...+METHOD` (rotate, smoothquant, resq) through quantize and eval end to end.
#include "../core/fixture_paths.h"
#include "cli_runner.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

using namespace qs::test;
namespace fs = std::filesystem;

namespace {

const std::string kModel = q(tinyLlama().string());
const std::string kCalib = q((fixtures() / "corpus" / "calib.txt").string());
const std::string kTokens = q((tinyLlama() / "ref_test_tokens.npy").string());

} // namespace

TEST(CliTransforms, HelpListsTransforms) {
    const CliRun r = runCli("eval --help");
    EXPECT_NE(r.out.find("rotate+gptq"), std::string::npos) << r.out;
    for (const char* t : {"smoothquant:", "rotate:", "resq:", "--high-fraction", "--rotation NAME", "--alpha"})
        EXPECT_NE(r.out.find(t), std::string::npos) << t;
}

TEST(CliTransforms, RotateGptqEvalW4A4KV4) {
    const std::string common = "eval " + kModel + " --data " + kTokens +
                               " --windows 16 --format int4 --granularity channel --act-quant int4 --kv-quant int4 --json";
    const CliRun rot = runCli(common + " --method rotate+gptq --rotation hadamard --calib " + kCalib + " --calib-windows 8");
    ASSERT_EQ(rot.exitCode, 0) << rot.out;
    const CliRun plain = runCli(common + " --method rtn");
    ASSERT_EQ(plain.exitCode, 0) << plain.out;
    const auto jr = rot.json(), jp = plain.json();
    EXPECT_EQ(jr["recipe"]["method"], "gptq");
    EXPECT_EQ(jr["recipe"]["transforms"][0]["name"], "rotate");
    EXPECT_EQ(jr["recipe"]["transforms"][0]["rotation"], "hadamard");
    EXPECT_LT(jr["perplexity"].get<double>(), jp["perplexity"].get<double>());
}

TEST(CliTransforms, ResqAloneMeansResqPlusRtnAndCountsMixedBits) {
    const CliRun r = runCli("quantize " + kModel + " --method resq --format int4 --granularity channel --calib " + kCalib +
                            " --calib-windows 4 --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const auto j = r.json();
    EXPECT_EQ(j["recipe"]["method"], "rtn");
    EXPECT_EQ(j["recipe"]["transforms"][0]["name"], "resq");
    EXPECT_DOUBLE_EQ(j["recipe"]["transforms"][0]["high_fraction"].get<double>(), 0.125);
    EXPECT_GT(j["bits_per_weight"].get<double>(), 4.4); // 1/8 of the columns at 8 bits
    EXPECT_GT(j["online_transform_parameters"].get<long long>(), 0);
}

TEST(CliTransforms, SmoothQuantW8A8AndClearErrors) {
    const CliRun s = runCli("eval " + kModel + " --data " + kTokens + " --windows 8 --method smoothquant --alpha 0.5" +
                            " --format int8 --granularity channel --act-quant int8:tensor --calib " + kCalib +
                            " --calib-windows 4 --json");
    ASSERT_EQ(s.exitCode, 0) << s.out;
    EXPECT_EQ(s.json()["recipe"]["transforms"][0]["name"], "smoothquant");
    // No calibration for a calibrated transform; an unknown transform; an online transform written out.
    const CliRun noCalib = runCli("eval " + kModel + " --data " + kTokens + " --method smoothquant --json");
    EXPECT_NE(noCalib.exitCode, 0);
    EXPECT_NE(noCalib.out.find("calib"), std::string::npos) << noCalib.out;
    const CliRun unknown = runCli("quantize " + kModel + " --method spin+rtn --json");
    EXPECT_NE(unknown.exitCode, 0);
    EXPECT_NE(unknown.out.find("unknown transform 'spin'"), std::string::npos) << unknown.out;
    const CliRun out = runCli("quantize " + kModel + " --method rotate --out " +
                              q(outputDir("cli_rotate_out").string()) + " --json");
    EXPECT_NE(out.exitCode, 0);
    EXPECT_NE(out.out.find("online"), std::string::npos) << out.out;
}

// A transformed recipe must mean the same thing everywhere: the recipe JSON that eval prints, re-read with
// --recipe, and a sweep of the same chain all give eval's perplexity (the online rotations included).
TEST(CliTransforms, RecipeFileAndSweepReproduceEval) {
    const fs::path dir = outputDir("cli_transforms_recipe");
    const std::string data = q((fixtures() / "corpus" / "test.txt").string());
    const CliRun direct = runCli("eval " + kModel + " --data " + data + " --windows 6 --method rotate+rtn" +
                                 " --format int4 --granularity channel --act-quant int4:token --json");
    ASSERT_EQ(direct.exitCode, 0) << direct.out;
    const auto j = direct.json();
    nlohmann::json recipe = j["recipe"];
    {
        std::ofstream(dir / "r.json") << recipe.dump(1);
    }
    const CliRun again = runCli("eval " + kModel + " --data " + data + " --windows 6 --recipe " +
                                q((dir / "r.json").string()) + " --json");
    ASSERT_EQ(again.exitCode, 0) << again.out;
    EXPECT_DOUBLE_EQ(again.json()["perplexity"].get<double>(), j["perplexity"].get<double>());

    {
        std::ofstream(dir / "grid.json") << R"({"method": ["rotate+rtn"], "format": ["int4"],
            "granularity": ["channel"], "act-quant": ["int4:token"]})";
    }
    const CliRun sweep = runCli("sweep " + kModel + " --grid " + q((dir / "grid.json").string()) + " --data " + data +
                                " --windows 6 --project " + q((dir / "p.qsproj").string()) + " --json");
    ASSERT_EQ(sweep.exitCode, 0) << sweep.out;
    const auto runs = sweep.json()["runs"];
    ASSERT_EQ(runs.size(), 1u) << sweep.out;
    EXPECT_NEAR(runs[0]["perplexity"].get<double>(), j["perplexity"].get<double>(), 1e-9);
}
