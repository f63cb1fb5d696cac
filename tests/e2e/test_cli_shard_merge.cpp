// SPDX-License-Identifier: MIT
// `sweep --shard I/N` + `merge`: shards partition the grid and merge into what one sweep stores;
// another model is refused by name; two sweeps writing one project at once store each recipe once.
#include "../core/fixture_paths.h"
#include "cli_runner.h"
#include "store/sqlite.h"

#include <cstdlib>
#include <fstream>
#include <gtest/gtest.h>
#include <map>
#include <set>
#include <sys/wait.h>
#include <unistd.h>

using namespace qs::test;

namespace {

const std::string kModel = tinyLlama().string();
const std::string kTokens = (tinyLlama() / "ref_test_tokens.npy").string();
const std::string kEval = " --ctx 64 --windows 8 --threads 1";

std::string writeFile(const std::filesystem::path& p, const std::string& text) {
    std::ofstream(p) << text;
    return p.string();
}

CliRun sweep(const std::string& grid, const std::filesystem::path& project, const std::string& extra = "") {
    return runCli("sweep " + q(kModel) + " --grid " + q(grid) + " --data " + q(kTokens) + " --project " +
                  q(project.string()) + kEval + extra + " --json");
}

// Finished runs keyed by recipe + eval settings, with everything but ids, times and file names.
std::map<std::string, nlohmann::json> runsByKey(const std::filesystem::path& project) {
    const CliRun r = runCli("runs " + q(project.string()) + " --json");
    EXPECT_EQ(r.exitCode, 0) << r.out;
    std::map<std::string, nlohmann::json> out;
    const nlohmann::json all = r.json(); // kept alive: a range-for over r.json()["runs"] would dangle
    for (auto run : all["runs"]) {
        const std::string key = run["recipe"].dump() + run["eval_settings"].dump();
        EXPECT_EQ(out.count(key), 0u) << "stored twice: " << key;
        for (const char* k : {"id", "model_id", "dataset_id", "started_at", "finished_at", "seconds", "arrays_file"})
            run.erase(k);
        out[key] = run;
    }
    return out;
}

} // namespace

TEST(CliShardMerge, ShardsPartitionTheGridAndMergeIntoWhatOneSweepStores) {
    const auto dir = outputDir("cli_shard_merge");
    const std::string grid = writeFile(dir / "grid.json", R"({"format": ["int3", "int4", "int8"], "group": [32, 128]})");
    const CliRun whole = sweep(grid, dir / "single.qsproj");
    ASSERT_EQ(whole.exitCode, 0) << whole.out;

    std::multiset<std::string> recipes;
    std::vector<std::string> shards;
    for (int i = 1; i <= 4; ++i) {
        const auto shard = dir / ("shard-" + std::to_string(i) + ".qsproj");
        const CliRun r = sweep(grid, shard, " --shard " + std::to_string(i) + "/4");
        ASSERT_EQ(r.exitCode, 0) << r.out;
        EXPECT_EQ(r.json()["shard"]["count"], 4);
        const nlohmann::json out = r.json();
        for (const auto& o : out["runs"]) recipes.insert(o["recipe"].dump());
        EXPECT_LE(r.json()["runs"].size(), 2u); // 6 recipes over 4 shards: 2, 2, 1, 1
        shards.push_back(q(shard.string()));
    }
    std::multiset<std::string> all;
    const nlohmann::json wholeOut = whole.json();
    for (const auto& o : wholeOut["runs"]) all.insert(o["recipe"].dump());
    EXPECT_EQ(recipes, all) << "each recipe in exactly one shard";

    const CliRun m = runCli("merge " + q((dir / "merged.qsproj").string()) + " " + shards[0] + " " + shards[1] + " " +
                            shards[2] + " " + shards[3] + " --json");
    ASSERT_EQ(m.exitCode, 0) << m.out;
    EXPECT_EQ(m.json()["runs_added"], 7);     // fp32 + 6
    EXPECT_EQ(m.json()["runs_duplicate"], 3); // the other shards' fp32 references
    EXPECT_EQ(runsByKey(dir / "merged.qsproj"), runsByKey(dir / "single.qsproj")) << "bit for bit, run for run";

    const CliRun again = runCli("merge " + q((dir / "merged.qsproj").string()) + " " + shards[2] + " --json");
    ASSERT_EQ(again.exitCode, 0) << again.out;
    EXPECT_EQ(again.json()["runs_added"], 0);
    EXPECT_EQ(again.json()["runs"], 7);

    const CliRun bad = runCli("sweep " + q(kModel) + " --grid " + q(grid) + " --data " + q(kTokens) + " --project " +
                              q((dir / "x.qsproj").string()) + " --shard 5/4 --json");
    EXPECT_EQ(bad.exitCode, 1);
    EXPECT_NE(bad.json()["error"].get<std::string>().find("--shard 5/4"), std::string::npos) << bad.out;
}

TEST(CliShardMerge, AnotherModelIsRefusedByName) {
    const auto dir = outputDir("cli_shard_merge_model");
    const std::string grid = writeFile(dir / "grid.json", R"({"format": "int4", "group": 32})");
    ASSERT_EQ(sweep(grid, dir / "tiny.qsproj").exitCode, 0);
    const std::string demo = std::string(QS_SOURCE_DIR) + "/resources/demo";
    const CliRun d = runCli("sweep " + q(demo) + " --grid " + q(grid) + " --data " + q(demo + "/sample.txt") +
                            " --project " + q((dir / "demo.qsproj").string()) + " --ctx 64 --windows 2 --json");
    ASSERT_EQ(d.exitCode, 0) << d.out;
    const auto merged = dir / "merged.qsproj";
    const CliRun m = runCli("merge " + q(merged.string()) + " " + q((dir / "tiny.qsproj").string()) + " " +
                            q((dir / "demo.qsproj").string()) + " --json");
    EXPECT_EQ(m.exitCode, 1);
    const std::string msg = m.json()["error"];
    EXPECT_NE(msg.find("demo.qsproj was made on model"), std::string::npos) << msg;
    EXPECT_NE(msg.find("resources/demo"), std::string::npos) << msg;
    EXPECT_NE(msg.find("tinyllama-bpe512"), std::string::npos) << msg;
    EXPECT_FALSE(std::filesystem::exists(merged)) << "a refused merge leaves no project behind";
    const CliRun anyway = runCli("merge " + q(merged.string()) + " " + q((dir / "tiny.qsproj").string()) + " " +
                                 q((dir / "demo.qsproj").string()) + " --allow-different --json");
    ASSERT_EQ(anyway.exitCode, 0) << anyway.out;
    EXPECT_EQ(anyway.json()["runs"], 4);
}

// Two CLIs sweeping overlapping grids into one (new) project at once, each with two threads: every
// recipe stored exactly once, every run complete, and the file intact.
TEST(CliShardMerge, TwoConcurrentSweepsStoreEachRecipeOnce) {
    const auto dir = outputDir("cli_concurrent_sweeps");
    const auto project = dir / "p.qsproj";
    const std::string a = writeFile(dir / "a.json", R"({"format": ["int3", "int4", "int8"], "group": [32, 128]})");
    const std::string b = writeFile(dir / "b.json", R"({"format": ["int4", "int8", "int6"], "group": [128, 32]})");
    std::vector<pid_t> pids;
    for (const auto& grid : {a, b}) {
        const pid_t pid = fork();
        if (pid == 0) {
            const std::string cmd = std::string(QS_BIN_DIR) + "/quantscope-cli sweep " + q(kModel) + " --grid " + q(grid) +
                                    " --data " + q(kTokens) + " --project " + q(project.string()) + kEval +
                                    " --jobs 2 >/dev/null 2>&1";
            _exit(std::system(cmd.c_str()) == 0 ? 0 : 1);
        }
        pids.push_back(pid);
    }
    for (const pid_t pid : pids) {
        int status = 0;
        waitpid(pid, &status, 0);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    const auto runs = runsByKey(project); // fails on any key stored twice
    EXPECT_EQ(runs.size(), 1u + 8u);        // fp32 + the 8 distinct recipes of both grids
    for (const auto& [key, r] : runs) EXPECT_EQ(r["status"], "finished") << key;
    qs::core::sql::Database db(project, false);
    EXPECT_EQ(db.queryInt("SELECT count(*) FROM pragma_integrity_check WHERE integrity_check != 'ok'"), 0);
    EXPECT_EQ(db.queryInt("SELECT count(*) - count(DISTINCT arrays_file) FROM runs WHERE arrays_file IS NOT NULL"), 0);
    EXPECT_EQ(db.queryInt("SELECT count(*) FROM runs WHERE status = 'finished'"), 9);
    // Both processes' runs open: every recipe's arrays file is readable.
    const CliRun list = runCli("runs " + q(project.string()) + " --json");
    const nlohmann::json listed = list.json();
    for (const auto& r : listed["runs"]) {
        if (r["arrays_file"] == "") continue;
        EXPECT_TRUE(std::filesystem::exists(project.string() + ".runs/" + r["arrays_file"].get<std::string>()));
    }
}
