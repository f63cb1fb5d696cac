// SPDX-License-Identifier: MIT
// The project store: schema migration, corrupt/foreign files, run round trip, HDF5 arrays.
#include "error_text.h"
#include "experiment/recipe_run.h"
#include "fixture_paths.h"
#include "store/project.h"
#include "store/sqlite.h"
#include "base/error.h"

#include <atomic>
#include <fstream>
#include <thread>
#include <gtest/gtest.h>

using namespace qs::core;

using qs::test::errorOf;

namespace {

NewRun sampleRun(std::int64_t modelId, std::int64_t datasetId, const std::string& recipe) {
    NewRun r;
    r.recipe = recipe;
    r.recipeLabel = "label";
    r.modelId = modelId;
    r.datasetId = datasetId;
    r.evalSettings = R"({"ctx":64,"windows":8})";
    r.startedAt = r.finishedAt = isoTimeNow();
    r.metrics.perplexity = 9.5;
    r.metrics.referencePerplexity = 9.0;
    r.metrics.kldMean = 0.01;
    LayerArrays a;
    a.name = "model.layers.0.mlp.down_proj.weight";
    a.errorHistogram.lo = -1;
    a.errorHistogram.hi = 1;
    a.errorHistogram.counts = {1, 2, 3, 4};
    a.mse = 0.5;
    a.sqnrDb = 20;
    r.arrays.layers.push_back(a);
    r.layers.push_back({a.name, 4, 8, 4.5, 0.5, 0.25, 20.0, errorHistogramPath(a.name)});
    return r;
}

} // namespace

TEST(Store, MigratesAVersion1ProjectAndKeepsItsData) {
    const auto dir = qs::test::outputDir("store_migrate");
    const auto path = dir / "old.qsproj";
    {
        // Version 1 as it was: no provenance, fewer run/layer columns.
        sql::Database db(path, true);
        db.exec(R"sql(
CREATE TABLE models(id INTEGER PRIMARY KEY, path TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, architecture TEXT, parameters INTEGER);
CREATE TABLE datasets(id INTEGER PRIMARY KEY, path TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, tokens INTEGER);
CREATE TABLE recipes(id INTEGER PRIMARY KEY, json TEXT NOT NULL UNIQUE, label TEXT);
CREATE TABLE runs(id INTEGER PRIMARY KEY AUTOINCREMENT, recipe_id INTEGER NOT NULL, model_id INTEGER NOT NULL,
  dataset_id INTEGER NOT NULL, eval_settings TEXT NOT NULL, status TEXT NOT NULL, error TEXT, started_at TEXT,
  finished_at TEXT, seconds REAL, perplexity REAL, reference_perplexity REAL, kld_mean REAL, bits_per_weight REAL);
CREATE TABLE layer_results(run_id INTEGER NOT NULL, name TEXT NOT NULL, rows INTEGER, cols INTEGER,
  bits_per_weight REAL, mse REAL, sqnr_db REAL, PRIMARY KEY(run_id, name));
INSERT INTO models VALUES (1, '/m', 'abc', 'llama', 100);
INSERT INTO datasets VALUES (1, '/d', 'def', 1000);
INSERT INTO recipes VALUES (1, '{"format":"int4"}', 'int4');
INSERT INTO runs(recipe_id, model_id, dataset_id, eval_settings, status, perplexity, bits_per_weight)
  VALUES (1, 1, 1, '{}', 'finished', 12.5, 4.5);
INSERT INTO runs(recipe_id, model_id, dataset_id, eval_settings, status, perplexity, bits_per_weight)
  VALUES (1, 1, 1, '{}', 'finished', 12.6, 4.5);
INSERT INTO layer_results VALUES (1, 'w', 2, 3, 4.5, 0.1, 30.0);
PRAGMA application_id = 1364414538;
PRAGMA user_version = 1;
)sql");
    }
    auto p = Project::open(path, false);
    {
        sql::Database db(path, false);
        EXPECT_EQ(db.queryInt("PRAGMA user_version"), Project::kSchemaVersion);
    }
    const auto runs = p->runs();
    ASSERT_EQ(runs.size(), 1u); // the v1 duplicate of the same finished run was dropped, the oldest kept
    EXPECT_EQ(runs[0].id, 1);
    EXPECT_DOUBLE_EQ(*runs[0].metrics.perplexity, 12.5);
    EXPECT_DOUBLE_EQ(*runs[0].metrics.bitsPerWeight, 4.5);
    EXPECT_FALSE(runs[0].metrics.kldP99.has_value());
    const auto layers = p->layers(1);
    ASSERT_EQ(layers.size(), 1u);
    EXPECT_EQ(layers[0].name, "w");
    EXPECT_DOUBLE_EQ(*layers[0].sqnrDb, 30.0);
    EXPECT_EQ(p->model(1).architecture, "llama");
    // The migrated file takes new runs with the new columns.
    auto run = sampleRun(1, 1, R"({"format":"int3"})");
    run.metrics.kldP99 = 0.2;
    const auto id = p->storeRun(run);
    ASSERT_TRUE(id);
    EXPECT_DOUBLE_EQ(*p->run(*id)->metrics.kldP99, 0.2);
}

TEST(Store, RunRoundTripArraysAndNoDuplicates) {
    const auto dir = qs::test::outputDir("store_roundtrip");
    auto p = Project::open(dir / "p.qsproj", true);
    const auto m = p->ensureModel({0, "/m", "h1", "llama", 10});
    EXPECT_EQ(p->ensureModel({0, "/moved", "h1", "llama", 10}), m);
    EXPECT_EQ(p->model(m).path, "/moved");
    const auto d = p->ensureDataset({0, "/d", "h2", 100});
    const auto id = p->storeRun(sampleRun(m, d, R"({"format":"int4"})"));
    ASSERT_TRUE(id);
    EXPECT_FALSE(p->storeRun(sampleRun(m, d, R"({"format":"int4"})"))); // same recipe/model/data/settings
    const auto r = p->run(*id);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, "finished");
    EXPECT_NEAR(r->toJson()["delta_perplexity"].get<double>(), 0.5, 1e-12);
    const auto arrays = p->runArrays(*id);
    ASSERT_EQ(arrays.layers.size(), 1u);
    EXPECT_EQ(arrays.layers[0].errorHistogram.counts, (std::vector<std::int64_t>{1, 2, 3, 4}));
    EXPECT_DOUBLE_EQ(arrays.layers[0].mse, 0.5);
    EXPECT_EQ(p->layers(*id).at(0).h5Path, errorHistogramPath("model.layers.0.mlp.down_proj.weight"));
    EXPECT_EQ(p->finishedRecipes(m, d, R"({"ctx":64,"windows":8})").count(R"({"format":"int4"})"), 1u);
    EXPECT_NE(errorOf([&] { p->runs("nonsense"); }).find("unknown sort key"), std::string::npos);

    // A damaged arrays file is a clear error naming it; the SQLite data stays usable.
    std::ofstream(p->arraysDir() / r->arraysFile, std::ios::trunc) << "garbage";
    const std::string e = errorOf([&] { p->runArrays(*id); });
    EXPECT_NE(e.find(r->arraysFile), std::string::npos) << e;
    EXPECT_EQ(p->runs().size(), 1u);
}

TEST(Store, CorruptAndForeignFilesAreClearErrors) {
    const auto dir = qs::test::outputDir("store_corrupt");
    const auto text = dir / "notes.qsproj";
    std::ofstream(text) << "this is not a database, just some text that is long enough";
    std::string e = errorOf([&] { Project::open(text, true); });
    EXPECT_NE(e.find(text.string()), std::string::npos) << e;
    EXPECT_NE(e.find("not an SQLite database"), std::string::npos) << e;

    const auto foreign = dir / "foreign.qsproj";
    {
        sql::Database db(foreign, true);
        db.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1);");
    }
    e = errorOf([&] { Project::open(foreign, true); });
    EXPECT_NE(e.find(foreign.string()), std::string::npos) << e;
    EXPECT_NE(e.find("not a QuantScope project"), std::string::npos) << e;

    const auto ours = dir / "damaged.qsproj";
    {
        sql::Database db(ours, true);
        db.exec("CREATE TABLE runs(x); PRAGMA application_id = 1364414538; PRAGMA user_version = 2;");
    }
    e = errorOf([&] { Project::open(ours, false); });
    EXPECT_NE(e.find("table 'models' is missing"), std::string::npos) << e;

    const auto newer = dir / "newer.qsproj";
    {
        sql::Database db(newer, true);
        db.exec("CREATE TABLE x(y); PRAGMA application_id = 1364414538; PRAGMA user_version = 99;");
    }
    e = errorOf([&] { Project::open(newer, false); });
    EXPECT_NE(e.find("newer QuantScope"), std::string::npos) << e;

    e = errorOf([&] { Project::open(dir / "missing.qsproj", false); });
    EXPECT_NE(e.find("missing.qsproj"), std::string::npos) << e;

    // Truncating a real project's header is caught as well.
    const auto cut = dir / "cut.qsproj";
    { auto p = Project::open(cut, true); }
    std::filesystem::resize_file(cut, 10);
    e = errorOf([&] { Project::open(cut, false); });
    EXPECT_NE(e.find("not an SQLite database"), std::string::npos) << e;
}

TEST(Store, OpensAProjectOfThePreviousVersionWithEveryRun) {
    // tests/data/v9_project.qsproj was written by the version before per-layer recipes
    // (tests/data/README.md); a copy is opened, so the kept file never changes.
    const auto dir = qs::test::outputDir("store_previous_version");
    const auto src = std::filesystem::path(QS_SOURCE_DIR) / "tests" / "data";
    std::filesystem::copy_file(src / "v9_project.qsproj", dir / "p.qsproj");
    std::filesystem::copy(src / "v9_project.qsproj.runs", dir / "p.qsproj.runs");
    auto project = Project::open(dir / "p.qsproj", false);
    const auto runs = project->runs();
    ASSERT_EQ(runs.size(), 5u);
    const double want[] = {3.790570610715106, 3.7980053129154556, 3.788673947865298, 3.8124952706337103,
                           3.7859242143962772};
    for (std::size_t i = 0; i < runs.size(); ++i) {
        EXPECT_EQ(runs[i].status, "finished");
        ASSERT_TRUE(runs[i].metrics.perplexity);
        EXPECT_DOUBLE_EQ(*runs[i].metrics.perplexity, want[i]) << runs[i].recipeLabel;
    }
    EXPECT_EQ(runs[0].recipe, "{}");
    EXPECT_FALSE(project->layers(runs[1].id).empty());
    EXPECT_EQ(project->runArrays(runs[1].id).layers.size(), project->layers(runs[1].id).size());
}

TEST(Store, AMetricColumnAProjectLacksIsAddedWhenItOpens) {
    // A run metric added to the table after a project was written becomes a column the next time the
    // project opens; the runs stay, without a value for it.
    const auto dir = qs::test::outputDir("store_metric_column");
    const auto path = dir / "p.qsproj";
    {
        auto p = Project::open(path, true);
        const auto m = p->ensureModel({0, "m", "hash-m", "llama", 1});
        const auto d = p->ensureDataset({0, "d", "hash-d", 10});
        NewRun r = sampleRun(m, d, R"({"format":"int4"})");
        r.metrics.kldP99 = 0.5;
        ASSERT_TRUE(p->storeRun(r));
    }
    {
        sql::Database db(path, false);
        db.exec("ALTER TABLE runs DROP COLUMN kld_p99");
    }
    auto p = Project::open(path, false);
    const auto runs = p->runs("kld_p99");
    ASSERT_EQ(runs.size(), 1u);
    EXPECT_FALSE(runs[0].metrics.kldP99);
    EXPECT_TRUE(runs[0].metrics.perplexity);
    for (const auto& metric : runMetricTable()) EXPECT_TRUE(runs[0].toJson().contains(std::string(metric.key)));
}

// The stored eval-settings key in words, as reports show it: a window count of 0 is "all windows".
TEST(EvalSettingsText, SaysTheKeyInWords) {
    EXPECT_EQ(qs::core::evalSettingsText(R"({"ctx":128,"windows":0})"), "context 128 tokens · all windows");
    EXPECT_EQ(qs::core::evalSettingsText(R"({"calib":"/data/calib.txt","calib_windows":16,"ctx":512,"windows":8})"),
              "calibration calib.txt, 16 windows · context 512 tokens · first 8 windows");
    EXPECT_EQ(qs::core::evalSettingsText(R"({"labels":"/d/test_y.npy"})"), "labels test_y.npy");
    EXPECT_EQ(qs::core::evalSettingsText("not json"), "not json");
}

// Values the tools keep with a project (the GUI's sweep ticks) survive reopening, also in a project written by
// the version before the settings table existed.
TEST(Store, SettingsTravelWithTheProject) {
    const auto dir = qs::test::outputDir("store_settings");
    const auto src = std::filesystem::path(QS_SOURCE_DIR) / "tests" / "data";
    std::filesystem::remove(dir / "old.qsproj");
    std::filesystem::copy_file(src / "v9_project.qsproj", dir / "old.qsproj");
    for (const auto& path : {dir / "old.qsproj", dir / "new.qsproj"}) {
        std::filesystem::remove(dir / "new.qsproj");
        {
            auto project = qs::core::Project::open(path, true);
            EXPECT_FALSE(project->setting("gui.sweep_ticks"));
            project->setSetting("gui.sweep_ticks", R"({"methods":["rtn"]})");
            project->setSetting("gui.sweep_ticks", R"({"methods":["gptq"]})"); // replaced, not added
        }
        auto again = qs::core::Project::open(path, false);
        EXPECT_EQ(again->setting("gui.sweep_ticks").value_or(""), R"({"methods":["gptq"]})") << path;
    }
    EXPECT_EQ(qs::core::Project::open(dir / "old.qsproj", false)->runs().size(), 5u);
}

// Several processes (here: connections on threads, which SQLite locks as it would processes) opening
// one new project at once must all get it: the schema, its upgrades and the switch to WAL are each
// made once, under a write lock, whoever comes first.
TEST(Store, ManyConnectionsOpeningOneNewProjectAtOnceAllSucceed) {
    const auto dir = qs::test::outputDir("store_concurrent_open");
    constexpr int kConnections = 8, kRounds = 12;
    for (int round = 0; round < kRounds; ++round) {
        const auto path = dir / ("p" + std::to_string(round) + ".qsproj");
        for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
        std::atomic<int> ready{0};
        std::vector<std::string> errors(kConnections);
        std::vector<std::thread> threads;
        for (int i = 0; i < kConnections; ++i)
            threads.emplace_back([&, i] {
                ++ready;
                while (ready.load() < kConnections) std::this_thread::yield(); // start together
                try {
                    auto project = qs::core::Project::open(path, true);
                    project->setSetting("opened_by_" + std::to_string(i), "yes");
                } catch (const std::exception& e) {
                    errors[static_cast<std::size_t>(i)] = e.what();
                }
            });
        for (auto& t : threads) t.join();
        for (int i = 0; i < kConnections; ++i) EXPECT_EQ(errors[static_cast<std::size_t>(i)], "") << "round " << round << ", connection " << i;
        auto project = qs::core::Project::open(path, false);
        for (int i = 0; i < kConnections; ++i) EXPECT_EQ(project->setting("opened_by_" + std::to_string(i)).value_or(""), "yes");
    }
}
