// SPDX-License-Identifier: MIT
// `quantscope-cli misalignment` on the fixture: every candidate of the family is scored; the RTN
// candidate's global change of loss and local objective equal the sensitivity analysis's for the same
// weight, format and windows (other code paths: the model quantizer, the sensitivity proxies); stored
// and re-opened; bad input is a clear error.
#include "../core/fixture_paths.h"
#include "cli_runner.h"

#include <gtest/gtest.h>
#include <set>

using namespace qs::test;

namespace {

const std::string kModel = tinyLlama().string();
const std::string kTokens = (tinyLlama() / "ref_test_tokens.npy").string();
const std::string kLayer = "model.layers.1.mlp.down_proj";
const std::string kSpec = "int3:group:32:asym";

} // namespace

TEST(CliMisalignment, CandidatesAreScoredAndRtnAgreesWithSensitivity) {
    const auto project = outputDir("cli_misalignment") / "p.qsproj";
    const std::string args = "misalignment " + q(kModel) + " --data " + q(kTokens) + " --windows 2 --calib " + q(kTokens) +
                             " --calib-windows 2 --layer " + kLayer + " --format " + kSpec + " --mixes 2 --qat-steps 2 --project " +
                             q(project.string()) + " --json";
    const CliRun r = runCli(args);
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const nlohmann::json res = r.json()["result"];
    // 4 RTN, 5 GPTQ, AWQ, GPTVQ, QAT, 2 mixes, and 2 random re-roundings each of RTN, GPTQ, AWQ and QAT.
    ASSERT_EQ(res["candidates"].size(), 22u);
    std::set<std::string> labels;
    for (const auto& c : res["candidates"]) {
        EXPECT_GE(c["local"].get<double>(), 0.0) << c;
        labels.insert(c["label"].get<std::string>());
    }
    for (const char* label : {"gptvq d2", "qat", "qat rerounded 100%", "gptq rerounded 50%", "awq rerounded 100%"})
        EXPECT_TRUE(labels.count(label)) << label;
    ASSERT_TRUE(res["rank_correlation"].is_number());
    EXPECT_LE(std::abs(res["rank_correlation"].get<double>()), 1.0);
    EXPECT_TRUE(res["per_format"][kSpec].contains("misranking_delta_loss"));

    const CliRun s = runCli("sensitivity " + q(kModel) + " --calib " + q(kTokens) +
                            " --sens-windows 2 --groups each --formats " + kSpec + " --hawq-probes 0 --no-gradient-score --json");
    ASSERT_EQ(s.exitCode, 0) << s.out;
    const nlohmann::json sens = s.json()["result"];
    std::size_t g = 0;
    while (g < sens["groups"].size() && sens["groups"][g]["name"].get<std::string>().find(kLayer) == std::string::npos) ++g;
    ASSERT_LT(g, sens["groups"].size()) << sens["groups"];
    const nlohmann::json& rtn = res["candidates"][0];
    ASSERT_EQ(rtn["label"], "rtn");
    const nlohmann::json& cand = sens["groups"][g]["candidates"][0];
    EXPECT_NEAR(rtn["delta_loss"].get<double>(), cand["delta_loss"].get<double>(), 1e-12);
    EXPECT_NEAR(rtn["kld"].get<double>(), cand["kld"].get<double>(), 1e-12);
    EXPECT_LE(relErr(rtn["local"].get<double>(), cand["local_error"].get<double>()), 1e-6);

    const CliRun again = runCli(args + " --threads 1");
    ASSERT_EQ(again.exitCode, 0) << again.out;
    EXPECT_TRUE(again.json()["reused"].get<bool>());
}

TEST(CliMisalignment, BadInputIsAClearError) {
    const std::string base = "misalignment " + q(kModel) + " --data " + q(kTokens) + " --windows 1 ";
    for (const std::string& bad : {std::string("--layer ") + kLayer, // no --calib
                                   std::string("--calib ") + q(kTokens) + " --layer model.nothing",
                                   std::string("--calib ") + q(kTokens) + " --layer " + kLayer + " --format keep",
                                   std::string("--calib ") + q(kTokens) + " --layer " + kLayer + " --format int9"}) {
        const CliRun r = runCli(base + bad + " --json");
        EXPECT_EQ(r.exitCode, 1) << bad;
        EXPECT_TRUE(r.json().contains("error")) << bad << r.out;
    }
}

// --compute bf16: the global figures are the bf16 sensitivity's for the same weight and format (RTN),
// while the local objective (float32 calibration inputs) equals the float32 analysis's.
TEST(CliMisalignment, Bf16ProductsScoreGloballyAsTheBf16SensitivityAndLocallyInFloat32) {
    const std::string args = "misalignment " + q(kModel) + " --data " + q(kTokens) + " --windows 2 --calib " + q(kTokens) +
                             " --calib-windows 2 --layer " + kLayer + " --format " + kSpec +
                             " --mixes 0 --rerounding 0 --json";
    const CliRun f32 = runCli(args);
    const CliRun bf16 = runCli(args + " --compute bf16");
    const CliRun s = runCli("sensitivity " + q(kModel) + " --calib " + q(kTokens) + " --sens-windows 2 --groups each --formats " +
                            kSpec + " --hawq-probes 0 --no-gradient-score --compute bf16 --json");
    ASSERT_EQ(f32.exitCode, 0) << f32.out;
    ASSERT_EQ(bf16.exitCode, 0) << bf16.out;
    ASSERT_EQ(s.exitCode, 0) << s.out;
    const nlohmann::json a = f32.json()["result"], b = bf16.json()["result"], sens = s.json()["result"];
    ASSERT_EQ(a["candidates"].size(), b["candidates"].size());
    for (std::size_t i = 0; i < a["candidates"].size(); ++i) {
        EXPECT_EQ(b["candidates"][i]["local"], a["candidates"][i]["local"]) << i;
        EXPECT_NE(b["candidates"][i]["delta_loss"], a["candidates"][i]["delta_loss"]) << i;
    }
    std::size_t g = 0;
    while (g < sens["groups"].size() && sens["groups"][g]["name"].get<std::string>().find(kLayer) == std::string::npos) ++g;
    ASSERT_LT(g, sens["groups"].size()) << sens["groups"];
    const nlohmann::json rtn = b["candidates"][0], cand = sens["groups"][g]["candidates"][0];
    ASSERT_EQ(rtn["label"], "rtn");
    EXPECT_NEAR(rtn["delta_loss"].get<double>(), cand["delta_loss"].get<double>(), 1e-12);
    EXPECT_NEAR(rtn["kld"].get<double>(), cand["kld"].get<double>(), 1e-12);
    EXPECT_NEAR(b["reference_loss"].get<double>(), sens["reference"]["nll"].get<double>(), 1e-12);
}
