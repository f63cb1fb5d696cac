// SPDX-License-Identifier: MIT
// `quantscope-cli sensitivity` / `mixed-precision` on the fixture: budgets respected, CLADO no worse
// than the best uniform recipe within each budget, analyses re-opened from the project, refusals.
#include "../core/fixture_paths.h"
#include "cli_runner.h"

#include <gtest/gtest.h>
#include <map>

using namespace qs::test;

namespace {

const std::string kModel = tinyLlama().string();
const std::string kCalib = (fixtures() / "corpus" / "calib.txt").string();
const std::string kTest = (fixtures() / "corpus" / "test.txt").string();
const std::string kFormats = " --formats int3:group:32:asym,int4:group:32:asym,int8:channel:sym";
const std::string kSet = " --calib " + q(kCalib) + " --sens-windows 4 --ctx 64";

} // namespace

TEST(CliMixedPrecision, BudgetsRespectedCladoNoWorseThanUniformAndStoredOnce) {
    const auto dir = outputDir("cli_mixed_precision");
    const std::string project = q((dir / "p.qsproj").string());
    const std::string args = "mixed-precision " + q(kModel) + kSet + kFormats + " --data " + q(kTest) +
                             " --windows 16 --budget 3.6,4.0,4.4 --solver all --project " + project + " --json";
    const CliRun first = runCli(args);
    ASSERT_EQ(first.exitCode, 0) << first.out;
    const nlohmann::json j = first.json();
    EXPECT_FALSE(j["sensitivity"]["reused"].get<bool>());
    EXPECT_GT(j["sensitivity"]["pairs_measured"].get<long long>(), 0); // clado asked: pairs measured
    std::map<std::pair<std::string, double>, nlohmann::json> at;
    for (const auto& p : j["points"]) {
        ASSERT_FALSE(p.contains("error")) << p.dump();
        const double budget = p["budget"].get<double>();
        EXPECT_LE(p["bits_per_weight"].get<double>(), budget + 1e-9) << p.dump();
        // The plan's recipe, evaluated, has the bits the plan counted (over the quantized weights).
        EXPECT_NEAR(p["measured_bits_per_weight"].get<double>(), p["bits_per_weight"].get<double>(), 1e-9);
        EXPECT_GT(p["run_id"].get<long long>(), 0);
        at[{p["method"].get<std::string>(), budget}] = p;
    }
    for (double b : {3.6, 4.0, 4.4}) {
        const auto& clado = at.at({"clado", b});
        const auto& uniform = at.at({"uniform", b});
        EXPECT_TRUE(clado["optimal"].get<bool>());
        EXPECT_LE(clado["perplexity"].get<double>(), uniform["perplexity"].get<double>() * (1 + 1e-12)) << b;
        // Frontier: each method's best within the budget never gets worse as the budget grows.
        for (const std::string m : {"clado", "ilp", "additive", "gradient", "greedy", "uniform"})
            if (b > 3.6) {
                EXPECT_LE(at.at({m, b})["frontier_perplexity"].get<double>(),
                          at.at({m, b - 0.4})["frontier_perplexity"].get<double>());
            }
    }

    // The same inputs again: the analysis and every run come back from the project.
    const CliRun second = runCli(args);
    ASSERT_EQ(second.exitCode, 0) << second.out;
    const nlohmann::json k = second.json();
    EXPECT_TRUE(k["sensitivity"]["reused"].get<bool>());
    EXPECT_EQ(k["sensitivity"]["id"], j["sensitivity"]["id"]);
    for (std::size_t i = 0; i < j["points"].size(); ++i) {
        EXPECT_EQ(k["points"][i]["choices"], j["points"][i]["choices"]);
        EXPECT_EQ(k["points"][i]["run_id"], j["points"][i]["run_id"]);
        EXPECT_TRUE(k["points"][i]["reused"].get<bool>());
    }
}

TEST(CliMixedPrecision, SensitivityKeepIsZeroAndReopensIdentically) {
    const auto dir = outputDir("cli_sensitivity");
    const std::string args = "sensitivity " + q(kModel) + kSet + " --formats keep,int4:group:32:asym --groups each" +
                             " --hawq-probes 0 --project " + q((dir / "p.qsproj").string()) + " --json";
    const CliRun first = runCli(args);
    ASSERT_EQ(first.exitCode, 0) << first.out;
    const nlohmann::json r = first.json()["result"];
    ASSERT_EQ(r["groups"].size(), 28u);
    for (const auto& g : r["groups"]) {
        EXPECT_EQ(g["candidates"][0]["delta_loss"].get<double>(), 0.0);
        EXPECT_EQ(g["candidates"][0]["kld"].get<double>(), 0.0);
        EXPECT_GT(g["candidates"][1]["kld"].get<double>(), 0.0);
    }
    EXPECT_EQ(first.json()["manifest"]["set"]["tokens"].get<long long>(), 4 * 64);
    EXPECT_FALSE(first.json()["manifest"]["model"]["hash"].get<std::string>().empty());
    const CliRun second = runCli(args);
    ASSERT_EQ(second.exitCode, 0) << second.out;
    EXPECT_TRUE(second.json()["reused"].get<bool>());
    EXPECT_EQ(second.json()["result"], first.json()["result"]);
}

TEST(CliMixedPrecision, RefusalsNameTheProblem) {
    const CliRun low = runCli("mixed-precision " + q(kModel) + kSet + kFormats +
                              " --budget 2.0 --solver additive --hawq-probes 0 --no-eval --json");
    ASSERT_EQ(low.exitCode, 0) << low.out; // reported per point, not thrown
    const std::string error = low.json()["points"][0]["error"].get<std::string>();
    EXPECT_NE(error.find("budget 2 bpw is below the smallest plan"), std::string::npos) << error;
    const CliRun noCalib = runCli("sensitivity " + q(kModel) + " --json");
    EXPECT_EQ(noCalib.exitCode, 1);
    EXPECT_NE(noCalib.json()["error"].get<std::string>().find("--calib"), std::string::npos);
    const CliRun badSolver = runCli("mixed-precision " + q(kModel) + kSet + " --budget 4 --solver magic --no-eval --json");
    EXPECT_EQ(badSolver.exitCode, 1);
    EXPECT_NE(badSolver.json()["error"].get<std::string>().find("unknown solver 'magic'"), std::string::npos);
    const CliRun badFormat = runCli("sensitivity " + q(kModel) + kSet + " --formats int4:bogus --json");
    EXPECT_EQ(badFormat.exitCode, 1);
}

// --compute bf16: the sensitivity's evaluations run on bf16 products (its float32 proxies unchanged),
// it is stored apart from the float32 analysis (whose key is as before), and mixed-precision
// evaluates its plans the same way: its held-out reference is `eval --compute bf16`'s.
TEST(CliMixedPrecision, Bf16SensitivityIsStoredApartAndItsPlansEvaluateInBf16) {
    const auto dir = outputDir("cli_sensitivity_bf16");
    const std::string project = " --project " + q((dir / "p.qsproj").string());
    const std::string args = "sensitivity " + q(kModel) + kSet + " --formats int4:group:32:asym --hawq-probes 0 --json" + project;
    const CliRun f32 = runCli(args);
    const CliRun bf16 = runCli(args + " --compute bf16");
    const CliRun again = runCli(args + " --compute bf16");
    ASSERT_EQ(f32.exitCode, 0) << f32.out;
    ASSERT_EQ(bf16.exitCode, 0) << bf16.out;
    ASSERT_EQ(again.exitCode, 0) << again.out;
    EXPECT_FALSE(f32.json()["settings"]["params"].contains("compute")); // float32 keys as before
    EXPECT_EQ(bf16.json()["settings"]["params"]["compute"], "bf16");
    EXPECT_FALSE(bf16.json()["reused"].get<bool>());
    EXPECT_NE(bf16.json()["id"], f32.json()["id"]);
    EXPECT_TRUE(again.json()["reused"].get<bool>());
    EXPECT_EQ(again.json()["id"], bf16.json()["id"]);
    const nlohmann::json a = f32.json()["result"], b = bf16.json()["result"];
    EXPECT_NE(a["reference"]["nll"], b["reference"]["nll"]);
    for (std::size_t g = 0; g < a["groups"].size(); ++g) {
        EXPECT_EQ(a["groups"][g]["candidates"][0]["local_error"], b["groups"][g]["candidates"][0]["local_error"]);
        EXPECT_EQ(a["groups"][g]["candidates"][0]["gradient"], b["groups"][g]["candidates"][0]["gradient"]);
    }

    const std::string held = " --data " + q(kTest) + " --windows 4";
    const CliRun plan = runCli("mixed-precision " + q(kModel) + kSet + " --formats int4:group:32:asym,int8:channel:sym" +
                               " --hawq-probes 0 --budget 6 --solver greedy --compute bf16 --json" + held + project);
    const CliRun eval = runCli("eval " + q(kModel) + held + " --ctx 64 --compute bf16 --json");
    ASSERT_EQ(plan.exitCode, 0) << plan.out;
    ASSERT_EQ(eval.exitCode, 0) << eval.out;
    EXPECT_DOUBLE_EQ(plan.json()["reference_perplexity"].get<double>(), eval.json()["perplexity"].get<double>());
    EXPECT_EQ(plan.json()["points"][0].value("error", ""), "");
}
