// SPDX-License-Identifier: MIT
// `quantscope-cli sweep` / `runs`: results equal plain evals, resume, SIGKILL safety, two writers.
#include "../core/fixture_paths.h"
#include "cli_runner.h"

#include <chrono>
#include <fcntl.h>
#include <fstream>
#include <gtest/gtest.h>
#include <map>
#include <random>
#include <set>
#include <signal.h>
#include <thread>
#include <unistd.h>

using namespace qs::test;

namespace {

const std::string kModel = tinyLlama().string();
const std::string kTokens = (tinyLlama() / "ref_test_tokens.npy").string();
const std::string kEval = " --ctx 64 --windows 8";

std::string writeGrid(const std::filesystem::path& dir, const std::string& json) {
    const auto p = dir / "grid.json";
    std::ofstream(p) << json;
    return p.string();
}

std::string sweepArgs(const std::string& grid, const std::filesystem::path& project, const std::string& extra = "") {
    return "sweep " + q(kModel) + " --grid " + q(grid) + " --data " + q(kTokens) + " --project " +
           q(project.string()) + kEval + extra + " --json";
}

nlohmann::json runs(const std::filesystem::path& project) {
    const CliRun r = runCli("runs " + q(project.string()) + " --json");
    EXPECT_EQ(r.exitCode, 0) << r.out;
    return r.json()["runs"];
}

// Starts the CLI as a child (not through a shell, so SIGKILL reaches the CLI itself).
// stderr goes to `errPath` when given (to show why a run failed), else with stdout to /dev/null.
pid_t spawnCli(const std::vector<std::string>& args, const std::filesystem::path& errPath = {}) {
    const pid_t pid = fork();
    if (pid == 0) {
        const int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(errPath.empty() ? devnull : open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), 2);
        std::vector<char*> argv;
        const std::string bin = std::string(QS_BIN_DIR) + "/quantscope-cli";
        argv.push_back(const_cast<char*>(bin.c_str()));
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execv(bin.c_str(), argv.data());
        _exit(127);
    }
    return pid;
}

std::vector<std::string> sweepArgv(const std::string& grid, const std::filesystem::path& project) {
    return {"sweep", kModel, "--grid", grid, "--data", kTokens, "--project", project.string(), "--ctx", "64",
            "--windows", "8", "--threads", "1"};
}

// Every finished run once per recipe, each with its layers and readable arrays.
void expectCompleteAndUnique(const std::filesystem::path& project, std::size_t expectedFinished) {
    const auto all = runs(project);
    std::set<std::string> recipes;
    std::size_t finished = 0;
    for (const auto& r : all) {
        if (r["status"] != "finished") continue;
        ++finished;
        EXPECT_TRUE(recipes.insert(r["recipe"].dump() + r["eval_settings"].dump()).second) << "duplicate " << r.dump();
        EXPECT_GT(r["perplexity"].get<double>(), 1.0);
        if (r["recipe"].empty()) continue;
        const CliRun l = runCli("runs " + q(project.string()) + " --layers " + std::to_string(r["id"].get<int>()) + " --json");
        ASSERT_EQ(l.exitCode, 0);
        EXPECT_EQ(l.json()["layers"].size(), 28u); // 4 layers x 7 Linears
        const auto h5 = std::filesystem::path(project.string() + ".runs") / r["arrays_file"].get<std::string>();
        EXPECT_TRUE(std::filesystem::exists(h5)) << h5;
    }
    EXPECT_EQ(finished, expectedFinished);
}

} // namespace

TEST(CliSweep, RunsEqualPlainEvalAndResumeSkipsThem) {
    const auto dir = outputDir("cli_sweep_basic");
    const auto project = dir / "p.qsproj";
    const std::string grid = writeGrid(dir, R"({"method": ["rtn"], "format": ["int4", "int3"], "group": [32], "asym": true,
        "granularity": ["group"]})");
    const CliRun r = runCli(sweepArgs(grid, project));
    ASSERT_EQ(r.exitCode, 0) << r.out;
    const auto j = r.json();
    EXPECT_EQ(j["done"], 2);
    EXPECT_EQ(j["skipped"], 0);
    const double fp32 = j["reference"]["perplexity"].get<double>();
    const CliRun plain = runCli("eval " + q(kModel) + " --data " + q(kTokens) + kEval + " --json");
    EXPECT_NEAR(fp32, plain.json()["perplexity"].get<double>(), 1e-9);
    for (const auto& run : j["runs"]) {
        const std::string fmt = run["recipe"]["format"];
        const CliRun e = runCli("eval " + q(kModel) + " --data " + q(kTokens) + kEval + " --method rtn --format " + fmt +
                                " --granularity group --group 32 --asym --json");
        ASSERT_EQ(e.exitCode, 0) << e.out;
        EXPECT_NEAR(run["perplexity"].get<double>(), e.json()["perplexity"].get<double>(), 1e-9) << fmt;
        EXPECT_NEAR(run["kld"].get<double>(), e.json()["kld"]["mean"].get<double>(), 1e-9);
        EXPECT_DOUBLE_EQ(run["bits_per_weight"].get<double>(), e.json()["bits_per_weight"].get<double>());
        EXPECT_NEAR(run["delta_perplexity"].get<double>(), e.json()["delta_perplexity"].get<double>(), 1e-9);
    }
    const CliRun again = runCli(sweepArgs(grid, project));
    ASSERT_EQ(again.exitCode, 0) << again.out;
    EXPECT_EQ(again.json()["done"], 0);
    EXPECT_EQ(again.json()["skipped"], 2);
    expectCompleteAndUnique(project, 3); // fp32 + 2

    // runs --sort orders by the key.
    const CliRun sorted = runCli("runs " + q(project.string()) + " --sort perplexity --desc --json");
    const auto list = sorted.json()["runs"];
    for (std::size_t i = 1; i < list.size(); ++i)
        EXPECT_GE(list[i - 1]["perplexity"].get<double>(), list[i]["perplexity"].get<double>());
}

TEST(CliSweep, PrefixCacheStartsAtTheFirstChangedLayerAndChangesNoBit) {
    // Recipes run in grid order (--jobs 1). Streams entering layers 1..3 are kept after each recipe
    // (and of the fp32 model), so each recipe starts at the deepest layer whose inputs an earlier
    // recipe computed alike: all int4 from 0; layer 3 at int8 from 3 (layers 0-2 as before); layer 2
    // at int8 from 2; layers 0-1 kept in float from 2 (the fp32 model's stream); 0-2 kept from 3;
    // everything kept from 3 (the stream leaving the last layer is never kept).
    const auto dir = outputDir("cli_sweep_prefix_cache");
    const std::string grid = writeGrid(dir, R"({"format": "int4", "group": 32, "layer": [[],
        ["model.layers.3.*=int8"], ["model.layers.2.*=int8"], ["model.layers.0.*=keep", "model.layers.1.*=keep"],
        ["model.layers.0.*=keep", "model.layers.1.*=keep", "model.layers.2.*=keep"],
        ["model.layers.0.*=keep", "model.layers.1.*=keep", "model.layers.2.*=keep", "model.layers.3.*=keep"]]})");
    std::filesystem::remove(dir / "cached.qsproj");
    std::filesystem::remove(dir / "plain.qsproj");
    const CliRun cached = runCli(sweepArgs(grid, dir / "cached.qsproj", " --threads 1"));
    const CliRun plain = runCli(sweepArgs(grid, dir / "plain.qsproj", " --threads 1 --no-prefix-cache"));
    ASSERT_EQ(cached.exitCode, 0) << cached.out;
    ASSERT_EQ(plain.exitCode, 0) << plain.out;
    const auto c = cached.json(), p = plain.json();
    const long long windows = 8;
    EXPECT_EQ(c["prefix_cache"]["layer_runs"], (4 + 1 + 2 + 2 + 1 + 1) * windows);
    EXPECT_EQ(c["prefix_cache"]["layer_runs_without_cache"], 6 * 4 * windows);
    EXPECT_EQ(p["prefix_cache"]["layer_runs"], 6 * 4 * windows);
    ASSERT_EQ(c["done"], 6);
    ASSERT_EQ(c["runs"].size(), p["runs"].size());
    for (std::size_t i = 0; i < c["runs"].size(); ++i) {
        EXPECT_EQ(c["runs"][i]["perplexity"], p["runs"][i]["perplexity"]) << i;
        EXPECT_EQ(c["runs"][i]["kld"], p["runs"][i]["kld"]) << i;
    }
    EXPECT_EQ(c["runs"][5]["kld"].get<double>(), 0.0); // everything kept: the fp32 model itself
    // And against a plain eval of a recipe that started mid-model.
    const CliRun e = runCli("eval " + q(kModel) + " --data " + q(kTokens) + kEval +
                            " --format int4 --group 32 --layer 'model.layers.2.*=int8' --json");
    ASSERT_EQ(e.exitCode, 0) << e.out;
    EXPECT_EQ(c["runs"][2]["perplexity"].get<double>(), e.json()["perplexity"].get<double>());
    EXPECT_EQ(c["runs"][2]["kld"].get<double>(), e.json()["kld"]["mean"].get<double>());
}

TEST(CliSweep, Bf16ProductsEqualPlainBf16EvalsAndAreStoredApart) {
    // --compute bf16 runs the reference and every recipe on bf16 products: each run equals `eval
    // --compute bf16`, with the prefix cache or without; its runs are keyed apart from float32 runs of
    // the same recipes, so a float32 sweep of the same project runs them again.
    const auto dir = outputDir("cli_sweep_bf16");
    const auto project = dir / "p.qsproj";
    std::filesystem::remove(project);
    std::filesystem::remove(dir / "plain.qsproj");
    const std::string grid = writeGrid(dir, R"({"format": "int4", "group": 32, "asym": true,
        "layer": [[], ["model.layers.3.*=int8"]]})");
    const CliRun cached = runCli(sweepArgs(grid, project, " --threads 1 --compute bf16"));
    const CliRun plain = runCli(sweepArgs(grid, dir / "plain.qsproj", " --threads 1 --compute bf16 --no-prefix-cache"));
    ASSERT_EQ(cached.exitCode, 0) << cached.out;
    ASSERT_EQ(plain.exitCode, 0) << plain.out;
    const auto c = cached.json();
    ASSERT_EQ(c["done"], 2);
    EXPECT_LT(c["prefix_cache"]["layer_runs"], c["prefix_cache"]["layer_runs_without_cache"]);
    const CliRun ref = runCli("eval " + q(kModel) + " --data " + q(kTokens) + kEval + " --compute bf16 --json");
    EXPECT_EQ(c["reference"]["perplexity"].get<double>(), ref.json()["perplexity"].get<double>());
    const char* layerFlags[] = {"", " --layer 'model.layers.3.*=int8'"};
    for (std::size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(c["runs"][i]["perplexity"], plain.json()["runs"][i]["perplexity"]) << i;
        const CliRun e = runCli("eval " + q(kModel) + " --data " + q(kTokens) + kEval +
                                " --format int4 --group 32 --asym --compute bf16" + layerFlags[i] + " --json");
        ASSERT_EQ(e.exitCode, 0) << e.out;
        EXPECT_EQ(c["runs"][i]["perplexity"].get<double>(), e.json()["perplexity"].get<double>()) << i;
        EXPECT_EQ(c["runs"][i]["kld"].get<double>(), e.json()["kld"]["mean"].get<double>()) << i;
    }
    const CliRun f32 = runCli(sweepArgs(grid, project, " --threads 1"));
    ASSERT_EQ(f32.exitCode, 0) << f32.out;
    EXPECT_EQ(f32.json()["done"], 2);
    EXPECT_EQ(f32.json()["skipped"], 0);
    EXPECT_NE(f32.json()["runs"][0]["perplexity"], c["runs"][0]["perplexity"]);
    std::size_t bf16Runs = 0;
    for (const auto& r : runs(project))
        bf16Runs += r["eval_settings"].dump().find("bf16") != std::string::npos;
    EXPECT_EQ(bf16Runs, 3u); // the bf16 reference and two recipes
    // Image classifiers evaluate in float32: refused, not silently ignored.
    const auto digits = fixtures() / "digits-cnn";
    const CliRun onnx = runCli("sweep " + q((digits / "model.onnx").string()) + " --grid " +
                               q(writeGrid(dir, R"({"format": "int8"})")) + " --data " +
                               q((digits / "test_x.npy").string()) + " --labels " + q((digits / "test_y.npy").string()) +
                               " --project " + q((dir / "onnx.qsproj").string()) + " --compute bf16 --json");
    EXPECT_EQ(onnx.exitCode, 1) << onnx.out;
    EXPECT_NE(onnx.out.find("float32"), std::string::npos) << onnx.out;
}

TEST(CliSweep, InvalidPointsAreSkippedAndUnknownKeysNamed) {
    const auto dir = outputDir("cli_sweep_invalid");
    const std::string grid = writeGrid(dir, R"({"format": ["mxfp4", "int8"], "granularity": "group", "group": 32})");
    const CliRun r = runCli(sweepArgs(grid, dir / "p.qsproj"));
    ASSERT_EQ(r.exitCode, 0) << r.out;
    EXPECT_EQ(r.json()["invalid"], 1);
    EXPECT_EQ(r.json()["done"], 1);
    const std::string bad = writeGrid(dir, R"({"formt": ["int4"]})");
    const CliRun e = runCli(sweepArgs(bad, dir / "p.qsproj"));
    EXPECT_EQ(e.exitCode, 1);
    const std::string msg = e.json()["error"];
    EXPECT_NE(msg.find("formt"), std::string::npos) << msg;
    EXPECT_NE(msg.find("granularity"), std::string::npos) << msg; // lists the valid keys
    EXPECT_NE(msg.find("act-quant"), std::string::npos) << msg;
}

TEST(CliSweep, SigkillAtRandomMomentsLosesNothingAndResumesWithoutDuplicates) {
    const auto dir = outputDir("cli_sweep_kill");
    const auto project = dir / "p.qsproj";
    const std::string grid = writeGrid(dir, R"({"format": ["int2", "int3", "int4", "int5", "int6", "int8"],
        "group": [32, 64], "asym": [true]})");
    std::mt19937 rng(12345);
    std::uniform_int_distribution<int> delayMs(50, 1500);
    for (int k = 0; k < 6; ++k) {
        const pid_t pid = spawnCli(sweepArgv(grid, project));
        std::this_thread::sleep_for(std::chrono::milliseconds(delayMs(rng)));
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        if (std::filesystem::exists(project)) {
            // Readable after every kill: each finished run intact, none twice.
            const auto all = runs(project);
            expectCompleteAndUnique(project, [&] {
                std::size_t n = 0;
                for (const auto& r : all) n += r["status"] == "finished";
                return n;
            }());
        }
    }
    const CliRun last = runCli(sweepArgs(grid, project));
    ASSERT_EQ(last.exitCode, 0) << last.out;
    EXPECT_EQ(last.json()["failed"], 0);
    expectCompleteAndUnique(project, 13); // fp32 + 12
}

TEST(CliSweep, TwoProcessesShareOneProject) {
    const auto dir = outputDir("cli_sweep_two");
    const auto project = dir / "p.qsproj";
    const std::string grid = writeGrid(dir, R"({"format": ["int3", "int4", "int8"], "group": [32, 128]})");
    const pid_t a = spawnCli(sweepArgv(grid, project), dir / "a.err");
    const pid_t b = spawnCli(sweepArgv(grid, project), dir / "b.err");
    int sa = 0, sb = 0;
    waitpid(a, &sa, 0);
    waitpid(b, &sb, 0);
    const auto text = [](const std::filesystem::path& p) {
        std::ifstream in(p);
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    EXPECT_TRUE(WIFEXITED(sa) && WEXITSTATUS(sa) == 0) << "status " << sa << ", stderr:\n" << text(dir / "a.err");
    EXPECT_TRUE(WIFEXITED(sb) && WEXITSTATUS(sb) == 0) << "status " << sb << ", stderr:\n" << text(dir / "b.err");
    expectCompleteAndUnique(project, 7);
}
