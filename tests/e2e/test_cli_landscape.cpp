// SPDX-License-Identifier: MIT
// `quantscope-cli landscape` on the fixture: the slice's ends are the fp32 and the quantized models'
// evaluated losses, slope / curvature / slice match reference_grad.json (float64 PyTorch autograd) and
// the curvature command, the 2-D grid's axes are the slices, the eigen direction is a unit vector
// whose curvature is its eigenvalue, storing re-opens, and bad input is a clear error.
#include "../core/fixture_paths.h"
#include "cli_runner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

using namespace qs::test;

namespace {

const std::string kModel = tinyLlama().string();
const std::string kTokens = (tinyLlama() / "ref_test_tokens.npy").string();

std::string rtnRecipe() {
    const auto path = outputDir("cli_landscape_recipe") / "rtn_int4_g32.json";
    std::ofstream(path) << R"({"method": "rtn", "format": "int4", "granularity": "group", "group": 32, "sym": false})";
    return path.string();
}

} // namespace

TEST(CliLandscape, SliceEndsAreTheEvaluatedModelsAndMatchTheReferenceAndCurvature) {
    const std::string recipe = rtnRecipe();
    const CliRun r = runCli("landscape " + q(kModel) + " --data " + q(kTokens) + " --windows 8 --direction recipe:" +
                            q(recipe) + " --t=-1,-0.5,0,0.5,1,2 --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const nlohmann::json j = r.json()["result"];
    const nlohmann::json ref = nlohmann::json::parse(std::ifstream(tinyLlama() / "reference_grad.json"));

    // t = 0 is the fp32 model and t = 1 the quantized one, as `eval` evaluates them on the same windows.
    const CliRun fp = runCli("eval " + q(kModel) + " --data " + q(kTokens) + " --windows 8 --json");
    const CliRun qm = runCli("eval " + q(kModel) + " --data " + q(kTokens) + " --windows 8 --recipe " + q(recipe) + " --json");
    ASSERT_EQ(fp.exitCode, 0) << fp.out;
    ASSERT_EQ(qm.exitCode, 0) << qm.out;
    EXPECT_LE(relErr(j["slice"]["0"].get<double>(), fp.json()["mean_nll"].get<double>()), 2e-6);
    EXPECT_LE(relErr(j["slice"]["1"].get<double>(), qm.json()["mean_nll"].get<double>()), 2e-6);
    EXPECT_EQ(qm.json()["reference"]["mean_nll"], fp.json()["mean_nll"]);
    EXPECT_EQ(j["directions"][0]["quantized_point"]["loss"], j["slice"]["1"]);

    // Against float64 autograd (the README's float32 tolerances).
    EXPECT_LE(relErr(j["loss"].get<double>(), ref["loss"].get<double>()), 1e-5);
    const double dd = ref["dir_deriv"].get<double>();
    EXPECT_LE(std::fabs(j["dir_deriv"].get<double>() - dd), std::max(1e-4 * std::fabs(dd), 1e-7));
    EXPECT_LE(relErr(j["curvature"].get<double>(), ref["curvature"].get<double>()), 1e-4);
    for (const auto& [t, loss] : ref["slice"].items())
        EXPECT_LE(relErr(j["slice"][t].get<double>(), loss.get<double>()), 1e-5) << t;

    // The curvature command computes the same numbers.
    const CliRun c = runCli("curvature " + q(kModel) + " --data " + q(kTokens) + " --windows 8 --direction recipe:" +
                            q(recipe) + " --t=-1,-0.5,0.5,2 --json");
    ASSERT_EQ(c.exitCode, 0) << c.out;
    EXPECT_EQ(c.json()["curvature"], j["curvature"]);
    EXPECT_EQ(c.json()["dir_deriv"], j["dir_deriv"]);
    for (const char* t : {"-1", "-0.5", "0.5", "2"}) EXPECT_EQ(c.json()["slice"][t], j["slice"][t]) << t;

    // Per-layer curvature: one value per decoder layer, and the sharpness is vᵀHv/|v|².
    const nlohmann::json& d = j["directions"][0];
    EXPECT_EQ(d["layer_curvature"].size(), 4u);
    const double norm = d["l2_norm"].get<double>();
    EXPECT_NEAR(d["sharpness"].get<double>(), d["curvature"].get<double>() / (norm * norm), 1e-12);
}

TEST(CliLandscape, GridAxesAreTheSlicesAndAStoredLandscapeReopens) {
    const auto project = outputDir("cli_landscape_grid") / "p.qsproj";
    const std::string args = "landscape " + q(kModel) + " --data " + q(kTokens) +
                             " --windows 2 --direction random:3 --direction2 random:4 --t=-0.5,0,0.5 --t2=0,1 "
                             "--no-per-layer --project " + q(project.string()) + " --json";
    const CliRun a = runCli(args);
    ASSERT_EQ(a.exitCode, 0) << a.out;
    const nlohmann::json j = a.json();
    EXPECT_FALSE(j["reused"].get<bool>());
    const nlohmann::json& res = j["result"];
    ASSERT_EQ(res["grid"].size(), 3u);
    ASSERT_EQ(res["grid"][0].size(), 2u);
    EXPECT_EQ(res["grid"][0][0], res["slice"]["-0.5"]);
    EXPECT_EQ(res["grid"][1][0], res["slice"]["0"]);
    EXPECT_EQ(res["grid"][1][1], res["directions"][1]["slice"]["1"]);
    // Filter-normalised: each random direction has the norm of the weights' matrices.
    EXPECT_GT(res["directions"][0]["l2_norm"].get<double>(), 1.0);
    const CliRun b = runCli(args + " --threads 1");
    ASSERT_EQ(b.exitCode, 0) << b.out;
    EXPECT_TRUE(b.json()["reused"].get<bool>());
    EXPECT_EQ(b.json()["result"], res);
}

TEST(CliLandscape, TheEigenDirectionIsAUnitVectorWhoseCurvatureIsItsEigenvalue) {
    const CliRun r = runCli("landscape " + q(kModel) + " --data " + q(kTokens) +
                            " --windows 1 --direction eigen --layer 1 --iterations 3 --t=0,0.1 --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const nlohmann::json j = r.json();
    const nlohmann::json& d = j["result"]["directions"][0];
    EXPECT_NEAR(d["l2_norm"].get<double>(), 1.0, 1e-5);
    EXPECT_LE(relErr(d["curvature"].get<double>(), d["eigenvalue"].get<double>()), 1e-9);
    // Only layer 1 moves.
    EXPECT_EQ(d["layer_curvature"]["layer 0"].get<double>(), 0.0);
    EXPECT_NE(d["layer_curvature"]["layer 1"].get<double>(), 0.0);
}

TEST(CliLandscape, BadInputIsAClearError) {
    const std::string base = "landscape " + q(kModel) + " --data " + q(kTokens) + " --windows 1 ";
    for (const std::string& bad :
         {std::string("--direction sideways"), std::string("--direction random:x"), std::string("--direction file:x.st"),
          std::string("--direction recipe:/nonexistent.json"), std::string("--t=1,a"), std::string("--layer 9"),
          std::string("--direction2 random:1 --t2=x")}) {
        const CliRun r = runCli(base + bad + " --json");
        EXPECT_EQ(r.exitCode, 1) << bad;
        EXPECT_TRUE(r.json().contains("error")) << bad << r.out;
    }
}
