// SPDX-License-Identifier: MIT
// `quantscope-cli quantize/eval --method gptq --calib` end to end on the fixture (GPTQ protocol of
// fixtures/README.md 2.6).
#include "../core/fixture_paths.h"
#include "cli_runner.h"

#include <cmath>
#include <gtest/gtest.h>

using namespace qs::test;

namespace {

const std::string kModel = q(tinyLlama().string());
const std::string kCalib = q((fixtures() / "corpus" / "calib.txt").string());
const std::string kTokens = q((tinyLlama() / "ref_test_tokens.npy").string());

} // namespace

TEST(CliGptq, QuantizeReportsCalibrationAndLayers) {
    const CliRun r = runCli("quantize " + kModel +
                            " --method gptq --format int4 --granularity group --group 32 --asym --calib " + kCalib +
                            " --calib-windows 8 --ctx 128 --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const auto j = r.json();
    EXPECT_EQ(j["calibration"]["windows"], 8);
    EXPECT_EQ(j["calibration"]["ctx"], 128);
    EXPECT_EQ(j["calibration"]["tokens"], 1024);
    EXPECT_EQ(j["layers"].size(), 28u);
    EXPECT_EQ(j["recipe"]["method"], "gptq");
    EXPECT_DOUBLE_EQ(j["recipe"]["method_params"]["damp"].get<double>(), 0.01);
    EXPECT_NEAR(j["bits_per_weight"].get<double>(), 4.0 + 20.0 / 32, 1e-9);
    for (const auto& l : j["layers"]) EXPECT_GT(l["sqnr_db"].get<double>(), 10.0) << l.dump();
}

TEST(CliGptq, EvalWithCalibrationBeatsRtn) {
    const std::string common = "eval " + kModel + " --data " + kTokens + " --format int3 --group 32 --asym --json";
    const CliRun g = runCli(common + " --method gptq --calib " + kCalib + " --calib-windows 32 --act-order");
    ASSERT_EQ(g.exitCode, 0) << g.out;
    const CliRun r = runCli(common + " --method rtn");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const auto jg = g.json(), jr = r.json();
    EXPECT_EQ(jg["calibration"]["windows"], 32);
    EXPECT_TRUE(jg["recipe"]["method_params"]["act_order"].get<bool>());
    EXPECT_LT(jg["perplexity"].get<double>(), jr["perplexity"].get<double>());
    EXPECT_NEAR(jr["perplexity"].get<double>(), 8.634586878665647, 1e-3);
}

TEST(CliGptq, ClearErrors) {
    // A calibrated method without data, too few windows, --calib-windows without --calib.
    CliRun r = runCli("quantize " + kModel + " --method gptq --format int4 --json");
    EXPECT_NE(r.exitCode, 0);
    EXPECT_NE(r.json()["error"].get<std::string>().find("--calib"), std::string::npos) << r.out;
    r = runCli("quantize " + kModel + " --method gptq --format int4 --calib " + kCalib +
               " --calib-windows 100000 --json");
    EXPECT_NE(r.exitCode, 0);
    EXPECT_NE(r.json()["error"].get<std::string>().find("calib.txt"), std::string::npos) << r.out;
    r = runCli("quantize " + kModel + " --format int4 --calib-windows 4 --json");
    EXPECT_NE(r.exitCode, 0);
}
