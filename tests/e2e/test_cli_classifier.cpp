// SPDX-License-Identifier: MIT
// eval on the digits CNN (.onnx) through the CLI, against the fixture's reference.json.
#include "../core/fixture_paths.h"
#include "cli_runner.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using qs::test::q;
using qs::test::runCli;

namespace {

std::string dir() { return std::string(QS_FIXTURES_DIR) + "/digits-cnn"; }

nlohmann::json result(const std::string& variant) {
    std::ifstream in(dir() + "/reference.json");
    return nlohmann::json::parse(in)["results"][variant];
}

void expectVariant(const nlohmann::json& j, const std::string& variant) {
    const auto want = result(variant);
    EXPECT_EQ(j["n"], 450);
    EXPECT_EQ(j["n_correct"], want["n_correct"]) << variant;
    EXPECT_EQ(j["misclassified"], want["misclassified_indices"]) << variant;
    EXPECT_NEAR(j["accuracy"].get<double>(), want["n_correct"].get<double>() / 450.0, 1e-12);
}

} // namespace

TEST(CliClassifier, Fp32WithNpy) {
    const auto r = runCli("eval " + q(dir() + "/model.onnx") + " --data " + q(dir() + "/test_x.npy") + " --labels " +
                          q(dir() + "/test_y.npy") + " --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    expectVariant(r.json(), "fp32");
    EXPECT_FALSE(r.json().contains("reference"));
}

TEST(CliClassifier, Int4WeightsWithH5) {
    const std::string h5 = dir() + "/digits.h5";
    const auto r = runCli("eval " + q(dir() + "/model.onnx") + " --data " + q(h5 + ":test_x") + " --labels " +
                          q(h5 + ":test_y") + " --format int4 --granularity channel --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const auto j = r.json();
    expectVariant(j, "w4_perchannel_sym");
    EXPECT_EQ(j["reference"]["n_correct"], result("fp32")["n_correct"]);
    // INT4 codes plus one fp16 scale per output channel.
    EXPECT_GT(j["bits_per_weight"].get<double>(), 4.0);
    EXPECT_LT(j["bits_per_weight"].get<double>(), 4.2);
    EXPECT_GT(j["agreement"].get<double>(), 0.95);
}

TEST(CliClassifier, W8A8StaticCalibration) {
    const std::string h5 = dir() + "/digits.h5";
    const auto r = runCli("eval " + q(dir() + "/model.onnx") + " --data " + q(dir() + "/test_x.npy") + " --labels " +
                          q(h5 + ":test_y") + " --format int8 --granularity channel --act-quant int8:tensor --calib " +
                          q(h5 + ":calib_x") + " --batch 100 --json");
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const auto j = r.json();
    expectVariant(j, "w8_perchannel_sym_a8_pertensor_sym");
    ASSERT_EQ(j["activation_scales"].size(), 4u);
    EXPECT_NEAR(j["activation_scales"][3].get<double>(), 0.27337950468063354, 1e-7);
}

TEST(CliClassifier, ErrorsAreJson) {
    const auto noLabels =
        runCli("eval " + q(dir() + "/model.onnx") + " --data " + q(dir() + "/test_x.npy") + " --json");
    EXPECT_NE(noLabels.exitCode, 0);
    EXPECT_NE(noLabels.json()["error"].get<std::string>().find("--labels"), std::string::npos);
    const auto badSet = runCli("eval " + q(dir() + "/model.onnx") + " --data " + q(dir() + "/digits.h5:nope") +
                               " --labels " + q(dir() + "/test_y.npy") + " --json");
    EXPECT_NE(badSet.exitCode, 0);
    EXPECT_NE(badSet.json()["error"].get<std::string>().find("nope"), std::string::npos);
}

TEST(CliClassifier, InspectAndQuantizeWorkOnOnnx) {
    const auto ins = runCli("inspect " + q(dir() + "/model.onnx") + " --json");
    ASSERT_EQ(ins.exitCode, 0) << ins.out;
    EXPECT_EQ(ins.json()["tensors"].size(), 8u);
    EXPECT_EQ(ins.json()["model_type"], "onnx");
    const auto qz = runCli("quantize " + q(dir() + "/model.onnx") + " --format int8 --granularity channel --json");
    ASSERT_EQ(qz.exitCode, 0) << qz.out;
    EXPECT_EQ(qz.json()["layers"].size(), 4u);
    const auto cf = runCli("compare-formats " + q(dir() + "/model.onnx") + " --layer fc1.weight --json");
    ASSERT_EQ(cf.exitCode, 0) << cf.out;
}

TEST(CliClassifier, SweepStoresAccuraciesAndSkipsThemOnResume) {
    const auto out = qs::test::outputDir("cli_classifier_sweep");
    const auto grid = out / "grid.json";
    std::ofstream(grid) << R"({"format": ["int8", "int4"], "granularity": ["channel"]})";
    const std::string args = "sweep " + q(dir() + "/model.onnx") + " --grid " + q(grid.string()) + " --data " +
                             q(dir() + "/test_x.npy") + " --labels " + q(dir() + "/test_y.npy") + " --project " +
                             q((out / "p.qsproj").string()) + " --json";
    const auto r = runCli(args);
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const auto j = r.json();
    EXPECT_EQ(j["done"], 2);
    EXPECT_NEAR(j["reference"]["accuracy"].get<double>(), result("fp32")["n_correct"].get<double>() / 450.0, 1e-12);
    ASSERT_EQ(j["runs"].size(), 2u);
    EXPECT_NEAR(j["runs"][0]["accuracy"].get<double>(),
                result("w8_perchannel_sym")["n_correct"].get<double>() / 450.0, 1e-12);
    EXPECT_NEAR(j["runs"][1]["accuracy"].get<double>(),
                result("w4_perchannel_sym")["n_correct"].get<double>() / 450.0, 1e-12);

    const auto again = runCli(args);
    ASSERT_EQ(again.exitCode, 0) << again.out;
    EXPECT_EQ(again.json()["skipped"], 2);
    EXPECT_EQ(again.json()["done"], 0);
}
