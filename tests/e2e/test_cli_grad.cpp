// SPDX-License-Identifier: MIT
// `quantscope-cli grad` and `curvature` on the fixture against reference_grad.json (float64 PyTorch
// autograd), with the fixtures README's float32 tolerances; the gradient file; refusals.
#include "../core/fixture_paths.h"
#include "cli_runner.h"
#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>

#include <fstream>

using namespace qs::test;

namespace {

const std::string kModel = tinyLlama().string();
const std::string kTokens = (tinyLlama() / "ref_test_tokens.npy").string();

nlohmann::json reference() {
    return nlohmann::json::parse(std::ifstream(tinyLlama() / "reference_grad.json"));
}

std::string rtnRecipe() {
    const auto path = outputDir("cli_grad_recipe") / "rtn_int4_g32.json";
    std::ofstream(path) << R"({"method": "rtn", "format": "int4", "granularity": "group", "group": 32, "sym": false})";
    return path.string();
}

} // namespace

TEST(CliGrad, LossAndGradientNormsMatchTheReferenceAndTheFileHoldsTheGradients) {
    const auto out = outputDir("cli_grad") / "grad.safetensors";
    const CliRun r = runCli("grad " + q(kModel) + " --data " + q(kTokens) + " --windows 8 --out " + q(out.string()) +
                            " --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const nlohmann::json j = r.json();
    const nlohmann::json ref = reference();
    EXPECT_EQ(j["tokens_scored"], ref["tokens_scored"]);
    EXPECT_LE(relErr(j["loss"].get<double>(), ref["loss"].get<double>()), 1e-5);
    EXPECT_LE(relErr(j["perplexity"].get<double>(), ref["perplexity"].get<double>()), 1e-5);
    ASSERT_EQ(j["grad_norms"].size(), ref["grad_norms"].size());
    for (const auto& [name, norm] : ref["grad_norms"].items())
        EXPECT_LE(relErr(j["grad_norms"][name].get<double>(), norm.get<double>()), 1e-4) << name;
    const auto file = qs::core::SafetensorsFile::open(out);
    EXPECT_EQ(file.entries().size(), 39u);
    const auto g = file.tensor("model.layers.1.mlp.down_proj.weight");
    EXPECT_EQ(g.shape(), (qs::core::Shape{192, 512}));
    double sq = 0;
    for (float x : g.toFloats()) sq += double(x) * x;
    EXPECT_LE(relErr(std::sqrt(sq), ref["grad_files"]["ref_grad_down1.npy"]["l2_norm_float64"].get<double>()), 1e-4);
}

TEST(CliGrad, LowMemoryGivesTheSameLossGradientsAndFileOneLayerAtATime) {
    // The fixture's reference and the whole-model run, from one decoder layer's float32 weights at a time.
    const auto dir = outputDir("cli_grad_low_memory");
    const std::string base = "grad " + q(kModel) + " --data " + q(kTokens) + " --windows 8 --batch-tokens 512";
    const CliRun whole = runCli(base + " --out " + q((dir / "whole.safetensors").string()) + " --json");
    const CliRun low = runCli(base + " --low-memory --out " + q((dir / "low.safetensors").string()) + " --json");
    ASSERT_EQ(whole.exitCode, 0) << whole.out;
    ASSERT_EQ(low.exitCode, 0) << low.out;
    const nlohmann::json w = whole.json(), l = low.json();
    EXPECT_EQ(l["low_memory"], true);
    EXPECT_EQ(l["loss"], w["loss"]);
    EXPECT_EQ(l["grad_norms"], w["grad_norms"]);
    EXPECT_LE(relErr(l["loss"].get<double>(), reference()["loss"].get<double>()), 1e-5);
    // Resident: embedding and head (512 x 192 each) and the final norm in float32; one layer: q and o
    // (192²), k and v (64 x 192: 2 KV heads of 32), gate, up and down (512 x 192) as stored, two norms
    // (config.json).
    const std::size_t resident = (2 * 512 * 192 + 192) * 4;
    const auto linearBytes = static_cast<std::size_t>(qs::test::fixtureLinearBytesPerValue());
    const std::size_t layer = (2 * 192 * 192 + 2 * 64 * 192 + 3 * 512 * 192) * linearBytes + 2 * 192 * 4;
    EXPECT_EQ(l["peak_weight_bytes"].get<std::size_t>(), resident + layer);
    const auto a = qs::core::SafetensorsFile::open(dir / "whole.safetensors");
    const auto b = qs::core::SafetensorsFile::open(dir / "low.safetensors");
    ASSERT_EQ(a.entries().size(), b.entries().size());
    for (const auto& e : a.entries()) EXPECT_EQ(a.tensor(e.name).toFloats(), b.tensor(e.name).toFloats()) << e.name;
    EXPECT_FALSE(std::filesystem::exists(dir / "low.safetensors.part"));
    // A data-free recipe is quantized layer by layer: the README's RTN loss again.
    const CliRun rtn = runCli(base + " --low-memory --recipe " + q(rtnRecipe()) + " --json");
    ASSERT_EQ(rtn.exitCode, 0) << rtn.out;
    EXPECT_LE(relErr(rtn.json()["loss"].get<double>(), 2.18551208), 1e-6);
    EXPECT_GT(rtn.json()["bits_per_weight"].get<double>(), 4.0);
    // A calibrated method needs the whole model: a clear error.
    const CliRun gptq = runCli(base + " --low-memory --method gptq --format int4 --json");
    EXPECT_EQ(gptq.exitCode, 1);
    EXPECT_NE(gptq.json()["error"].get<std::string>().find("gptq"), std::string::npos) << gptq.out;
}

TEST(CliGrad, ThroughARotatedRecipeTheLossIsEvalsToo) {
    // rotate+rtn with int8 activations: the backward pass runs the online rotations (and their adjoints).
    const std::string flags = " --data " + q(kTokens) + " --windows 2 --method rotate+rtn --format int4 --act-quant int8:token --json";
    const CliRun g = runCli("grad " + q(kModel) + flags);
    const CliRun e = runCli("eval " + q(kModel) + flags);
    ASSERT_EQ(g.exitCode, 0) << g.out;
    ASSERT_EQ(e.exitCode, 0) << e.out;
    EXPECT_NEAR(g.json()["loss"].get<double>(), std::log(e.json()["perplexity"].get<double>()), 1e-3);
    EXPECT_EQ(g.json()["recipe"]["transforms"][0]["name"], "rotate");
}

TEST(CliGrad, ThroughARecipeTheLossIsTheQuantizedModels) {
    const CliRun r = runCli("grad " + q(kModel) + " --data " + q(kTokens) + " --windows 8 --recipe " + q(rtnRecipe()) +
                            " --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    // The README's float32 loss of the RTN int4_g32_asym model on the same windows.
    EXPECT_LE(relErr(r.json()["loss"].get<double>(), 2.18551208), 1e-6);
}

TEST(CliCurvature, SlopeCurvatureAndSliceAlongTheRtnErrorMatchTheReference) {
    const CliRun r = runCli("curvature " + q(kModel) + " --data " + q(kTokens) + " --windows 8 --direction recipe:" +
                            q(rtnRecipe()) + " --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const nlohmann::json j = r.json();
    const nlohmann::json ref = reference();
    EXPECT_LE(relErr(j["loss"].get<double>(), ref["loss"].get<double>()), 1e-5);
    const double dd = ref["dir_deriv"].get<double>();
    EXPECT_LE(std::fabs(j["dir_deriv"].get<double>() - dd), std::max(1e-4 * std::fabs(dd), 1e-7));
    EXPECT_LE(relErr(j["curvature"].get<double>(), ref["curvature"].get<double>()), 1e-4);
    EXPECT_NEAR(j["direction"]["l2_norm"].get<double>(), ref["direction"]["v_l2_norm"].get<double>(), 1e-4);
    for (const auto& [t, loss] : ref["slice"].items())
        EXPECT_LE(relErr(j["slice"][t].get<double>(), loss.get<double>()), 1e-5) << t;
    EXPECT_LE(relErr(j["slice"]["1"].get<double>(), 2.18551208), 1e-6);
}

TEST(CliCurvature, RandomDirectionsAndLayerEstimatesAreSeededAndReproducible) {
    const std::string args = "curvature " + q(kModel) + " --data " + q(kTokens) +
                             " --windows 2 --direction random:7 --t 0.1 --trace --samples 2 --eigen --iterations 2 --seed 3 --json";
    const CliRun a = runCli(args), b = runCli(args + " --threads 1");
    ASSERT_EQ(a.exitCode, 0) << a.out;
    ASSERT_EQ(b.exitCode, 0) << b.out;
    const nlohmann::json ja = a.json(), jb = b.json();
    EXPECT_EQ(ja["curvature"], jb["curvature"]);
    EXPECT_EQ(ja["trace"], jb["trace"]);
    EXPECT_EQ(ja["eigen"], jb["eigen"]);
    EXPECT_EQ(ja["trace"].size(), 5u); // 4 decoder layers + embedding/norm/head
    for (const auto& [layer, e] : ja["trace"].items()) EXPECT_GT(e["value"].get<double>(), 0) << layer;
    EXPECT_TRUE(ja["slice"].contains("0.1"));
}

TEST(CliCurvature, BadDirectionsAreClearErrors) {
    const std::string base = "curvature " + q(kModel) + " --data " + q(kTokens) + " --windows 1 ";
    for (const std::string& bad : {std::string("--direction sideways:1"), std::string("--direction random:x"),
                                   std::string("--direction file:/nonexistent.safetensors"), std::string("--t 1,a"),
                                   std::string("")}) {
        const CliRun r = runCli(base + bad + " --json");
        EXPECT_EQ(r.exitCode, 1) << bad;
        EXPECT_TRUE(r.json().contains("error")) << bad;
    }
}

TEST(CliQat, EvalWithQatTrainsOnTheCalibrationWindowsAndReportsTheTraining) {
    const std::string calib = (fixtures() / "corpus" / "calib.txt").string();
    const std::string args = "eval " + q(kModel) + " --data " + q(kTokens) +
                             " --windows 4 --method qat --format int3 --granularity group --group 32 --asym --calib " +
                             q(calib) + " --calib-windows 8 --steps 3 --train-batch 2 --lr 0.001 --json";
    const CliRun r = runCli(args);
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const nlohmann::json j = r.json();
    EXPECT_EQ(j["recipe"]["method"], "qat");
    EXPECT_EQ(j["recipe"]["method_params"]["steps"], 3);
    EXPECT_EQ(j["calibration"]["qat"]["steps"], 3);
    EXPECT_TRUE(j["calibration"]["qat"].contains("held_out_loss_best"));
    EXPECT_GT(j["delta_perplexity"].get<double>(), 0.0);
    // One layer at a time cannot train the whole model.
    const CliRun low = runCli(args + " --low-memory");
    EXPECT_EQ(low.exitCode, 1);
    EXPECT_NE(low.json()["error"].get<std::string>().find("trains the whole model"), std::string::npos);
}

TEST(CliQat, LearnedScalesAreAnOptionOfTheMethod) {
    const std::string calib = (fixtures() / "corpus" / "calib.txt").string();
    const std::string base = "eval " + q(kModel) + " --data " + q(kTokens) + " --windows 2 --method qat --calib " + q(calib) +
                             " --calib-windows 8 --steps 2 --train-batch 2 --lr 0.001 --scales learned --scale-lr 0.01";
    const CliRun r = runCli(base + " --format int2 --granularity group --group 32 --asym --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const nlohmann::json j = r.json();
    EXPECT_EQ(j["recipe"]["method_params"]["scales"], "learned");
    EXPECT_EQ(j["recipe"]["method_params"]["scale_lr"], 0.01);
    EXPECT_EQ(j["calibration"]["qat"]["scales"], "learned");
    EXPECT_GT(j["calibration"]["qat"]["learned_scales"]["mean_abs_log_change"].get<double>(), 0.0);
    // MX scales are powers of two: there is nothing to learn, and the error says which weight and format.
    const CliRun mx = runCli(base + " --format mxfp4 --json");
    EXPECT_EQ(mx.exitCode, 1) << mx.out;
    const std::string error = mx.json()["error"].get<std::string>();
    EXPECT_NE(error.find("mxfp4"), std::string::npos) << error;
    EXPECT_NE(error.find("--scales fixed"), std::string::npos) << error;
}
