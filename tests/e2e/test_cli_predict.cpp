// SPDX-License-Identifier: MIT
// `quantscope-cli predict` on a project of 50 swept recipes of the fixture: the random forest's
// leave-one-out error is below predicting the mean, importances are reported, unseen recipes are ranked
// (more bits, better), the analysis is stored and re-opened, and bad input is a clear error.
#include "../core/fixture_paths.h"
#include "cli_runner.h"

#include <gtest/gtest.h>

#include <fstream>

using namespace qs::test;

namespace {

const std::string kModel = tinyLlama().string();
const std::string kTokens = (tinyLlama() / "ref_test_tokens.npy").string();

std::string writeGrid(const std::filesystem::path& dir, const std::string& name, const std::string& json) {
    const auto path = dir / name;
    std::ofstream(path) << json;
    return path.string();
}

} // namespace

TEST(CliPredict, LeaveOneOutBeatsTheMeanAndUnseenRecipesAreRanked) {
    const auto dir = outputDir("cli_predict");
    const std::string project = (dir / "p.qsproj").string();
    const std::vector<std::string> grids{
        R"({"format": ["int2", "int3", "int4", "int5", "int6", "int8"], "granularity": ["channel", "group"], "group": [32, 128], "asym": [false, true]})",
        R"({"format": ["mxfp4", "mxfp6_e2m3", "mxfp8_e4m3", "mxint8", "nvfp4", "nvint4"], "granularity": ["block"]})",
        R"({"format": ["fp4_e2m1", "nf4", "fp6_e2m3", "fp8_e4m3"], "granularity": ["channel", "group"], "group": [32]})"};
    for (std::size_t i = 0; i < grids.size(); ++i) {
        const CliRun s = runCli("sweep " + q(kModel) + " --grid " + q(writeGrid(dir, "grid" + std::to_string(i) + ".json", grids[i])) +
                                " --data " + q(kTokens) + " --windows 4 --project " + q(project) + " --json");
        ASSERT_EQ(s.exitCode, 0) << s.out;
    }
    const std::string unseen = writeGrid(dir, "unseen.json", R"({"format": ["int3", "int4", "int7"], "granularity": ["group"], "group": [64], "asym": [true]})");
    const std::string args = "predict " + q(project) + " --recipes " + q(unseen) + " --json";
    const CliRun r = runCli(args);
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const nlohmann::json j = r.json();
    const nlohmann::json& res = j["result"];
    EXPECT_GE(res["training_runs"].get<int>(), 40);
    EXPECT_LT(j["loo_error"].get<double>(), j["baseline_error"].get<double>());
    EXPECT_TRUE(j["importances"].contains("bits_per_weight"));
    EXPECT_TRUE(j["importances"].contains("curvature_vhv"));
    EXPECT_TRUE(res["learners"]["linear"]["loo"].contains("mae"));
    EXPECT_TRUE(res["learners"]["forest"]["lofo"].contains("mae"));
    ASSERT_EQ(j["predictions"].size(), 3u);
    std::map<std::string, double> predicted;
    for (const auto& p : j["predictions"]) {
        EXPECT_GT(p["predicted_perplexity"].get<double>(), 0.0);
        predicted[p["recipe"]["format"].get<std::string>()] = p["predicted"].get<double>();
    }
    EXPECT_LT(predicted["int4"], predicted["int3"]);
    EXPECT_LT(predicted["int7"], predicted["int3"]);
    EXPECT_EQ(j["predictions"][0]["rank"], 1);
    const CliRun again = runCli(args + " --threads 1");
    ASSERT_EQ(again.exitCode, 0) << again.out;
    EXPECT_TRUE(again.json()["reused"].get<bool>());
    EXPECT_EQ(again.json()["predictions"], j["predictions"]);

    // The unseen grid swept most promising first: the runs come in the predictions' rank order.
    const std::string predictions = (dir / "predictions.json").string();
    std::ofstream(predictions) << r.out;
    const std::string sweep = "sweep " + q(kModel) + " --grid " + q(unseen) + " --data " + q(kTokens) +
                              " --windows 4 --project " + q(project);
    const CliRun refused = runCli(sweep + " --order promising --json");
    EXPECT_EQ(refused.exitCode, 1);
    EXPECT_NE(refused.out.find("needs --predictions"), std::string::npos) << refused.out;
    const CliRun ordered = runCli(sweep + " --order promising --predictions " + q(predictions) + " --json");
    ASSERT_EQ(ordered.exitCode, 0) << ordered.out;
    const nlohmann::json swept = ordered.json();
    std::vector<std::string> ran, ranked;
    for (const auto& o : swept["runs"])
        if (o["status"] == "done") ran.push_back(o["recipe"]["format"].get<std::string>());
    for (const auto& p : j["predictions"]) ranked.push_back(p["recipe"]["format"].get<std::string>());
    EXPECT_EQ(ran, ranked);
}

TEST(CliPredict, BadInputIsAClearError) {
    const auto dir = outputDir("cli_predict_bad");
    for (const std::string& bad : {std::string("predict ") + q((dir / "none.qsproj").string()),
                                   std::string("predict"), std::string("predict x --target nll")}) {
        const CliRun r = runCli(bad + " --json");
        EXPECT_EQ(r.exitCode, 1) << bad;
        EXPECT_TRUE(r.json().contains("error")) << bad << r.out;
    }
}
