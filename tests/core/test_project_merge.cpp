// SPDX-License-Identifier: MIT
// Merging projects: duplicates dropped, provenance and arrays kept, other models refused before writing.
#include "error_text.h"
#include "fixture_paths.h"
#include "store/project_merge.h"
#include "base/error.h"

#include <functional>
#include <gtest/gtest.h>

using namespace qs::core;

using qs::test::errorOf;

namespace {

const char* kSettings = R"({"ctx":64,"windows":8})";

NewRun makeRun(std::int64_t model, std::int64_t dataset, std::int64_t provenance, const std::string& recipe,
               double ppl, const std::string& settings = kSettings) {
    NewRun r;
    r.recipe = recipe;
    r.recipeLabel = recipe == "{}" ? "fp32" : recipe;
    r.modelId = model;
    r.datasetId = dataset;
    r.provenanceId = provenance;
    r.evalSettings = settings;
    r.startedAt = r.finishedAt = "2026-01-01T00:00:00Z";
    r.metrics.perplexity = ppl;
    r.metrics.referencePerplexity = 9.0;
    if (recipe == "{}") return r;
    r.metrics.kldMean = ppl / 1000;
    LayerArrays a;
    a.name = "model.layers.0.mlp.down_proj.weight";
    a.errorHistogram.lo = -ppl;
    a.errorHistogram.hi = ppl;
    a.errorHistogram.counts = {1, 2, 3, 4};
    a.mse = ppl / 100;
    a.sqnrDb = 20;
    r.arrays.layers.push_back(a);
    r.layers.push_back({a.name, 4, 8, 4.5, a.mse, 0.25, 20.0, errorHistogramPath(a.name)});
    return r;
}

// A sweep shard as the CLI leaves it: the fp32 reference and `recipes` of one model, data and settings.
std::filesystem::path makeShard(const std::filesystem::path& path, const std::string& modelHash,
                                const std::vector<std::pair<std::string, double>>& recipes,
                                const std::string& settings = kSettings) {
    auto p = Project::open(path, true);
    const auto m = p->ensureModel({0, "/models/" + modelHash, modelHash, "llama", 1000});
    const auto d = p->ensureDataset({0, "/data/tokens.npy", "d0", 5000});
    const auto prov = p->addProvenance("quantscope-cli sweep --project " + path.string());
    p->storeRun(makeRun(m, d, prov, "{}", 9.0, settings));
    for (const auto& [recipe, ppl] : recipes) p->storeRun(makeRun(m, d, prov, recipe, ppl, settings));
    return path;
}

} // namespace

TEST(ProjectMerge, DropsDuplicatesAndKeepsProvenanceArraysAndAnalyses) {
    const auto dir = qs::test::outputDir("project_merge_basic");
    const auto a = makeShard(dir / "a.qsproj", "m1", {{R"({"format":"int4"})", 10.5}, {R"({"format":"int3"})", 12.0}});
    const auto b = makeShard(dir / "b.qsproj", "m1", {{R"({"format":"int8"})", 9.1}, {R"({"format":"int3"})", 12.0}});
    std::int64_t int4Run = 0, analysisId = 0;
    {
        auto pa = Project::open(a, false);
        for (const auto& r : pa->runs())
            if (r.recipe == R"({"format":"int4"})") int4Run = r.id;
        NewAnalysis an;
        an.kind = "sensitivity";
        an.modelId = pa->runs().front().modelId;
        an.datasetId = pa->runs().front().datasetId;
        an.settings = R"({"ctx":64})";
        an.manifest = an.summary = "{}";
        an.rows = {{"group 0", "[1.5]"}, {"group 1", "[2.5]"}};
        an.arrays["interaction"] = Eigen::MatrixXd::Constant(2, 3, 0.125);
        analysisId = *pa->storeAnalysis(an);
        pa->storePlan({0, analysisId, int4Run, "clado", 4.5, "bpw", R"({"choices":[]})"});
    }

    auto into = Project::open(dir / "p.qsproj", true);
    const MergeSummary s = mergeProjects(*into, {a, b}, {}, {});
    const nlohmann::json j = s.toJson();
    EXPECT_EQ(j["runs_added"], 4);     // fp32, int4, int3, int8
    EXPECT_EQ(j["runs_duplicate"], 2); // b's fp32 and int3
    EXPECT_EQ(j["analyses_added"], 1);
    EXPECT_EQ(j["plans_added"], 1);

    const auto runs = into->runs();
    ASSERT_EQ(runs.size(), 4u);
    auto shard = Project::open(a, false);
    for (const auto& r : runs) {
        EXPECT_NE(into->provenance(r.provenanceId).commandLine.find(r.recipe == R"({"format":"int8"})" ? "b.qsproj" : "a.qsproj"),
                  std::string::npos)
            << "each run names the shard command that produced it";
        if (r.recipe == "{}") continue;
        ASSERT_EQ(into->layers(r.id).size(), 1u);
        EXPECT_EQ(into->runArrays(r.id).layers.at(0).errorHistogram.hi, *r.metrics.perplexity);
    }
    const auto analyses = into->analyses();
    ASSERT_EQ(analyses.size(), 1u);
    EXPECT_EQ(into->analysisRows(analyses[0].id), shard->analysisRows(analysisId));
    EXPECT_EQ(into->analysisArrays(analyses[0].id).at("interaction"), shard->analysisArrays(analysisId).at("interaction"));
    const auto plans = into->plans();
    ASSERT_EQ(plans.size(), 1u);
    EXPECT_EQ(into->run(plans[0].runId)->recipe, R"({"format":"int4"})");

    // Merging again adds nothing; the history keeps both merges.
    const nlohmann::json again = mergeProjects(*into, {a, b}, {}, {}).toJson();
    EXPECT_EQ(again["runs_added"], 0);
    EXPECT_EQ(again["analyses_added"], 0);
    EXPECT_EQ(again["plans_added"], 0);
    EXPECT_EQ(into->runs().size(), 4u);
    EXPECT_EQ(nlohmann::json::parse(*into->setting("merge.history")).size(), 4u);
}

TEST(ProjectMerge, RefusesAnotherModelOrOtherSettingsBeforeWriting) {
    const auto dir = qs::test::outputDir("project_merge_mismatch");
    const auto a = makeShard(dir / "a.qsproj", "m1", {{R"({"format":"int4"})", 10.5}});
    const auto other = makeShard(dir / "other.qsproj", "m2", {{R"({"format":"int3"})", 12.0}});
    const auto ctx = makeShard(dir / "ctx.qsproj", "m1", {{R"({"format":"int3"})", 12.0}}, R"({"ctx":128,"windows":8})");
    auto into = Project::open(dir / "p.qsproj", true);
    const std::string msg = errorOf([&] { mergeProjects(*into, {a, other}, {}, {}); });
    EXPECT_NE(msg.find("other.qsproj"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model"), std::string::npos) << msg;
    EXPECT_NE(msg.find("m2 (/models/m2)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("m1 (/models/m1)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--allow-different"), std::string::npos) << msg;
    EXPECT_TRUE(into->runs().empty()) << "nothing written before the check";

    const std::string settings = errorOf([&] { mergeProjects(*into, {a, ctx}, {}, {}); });
    EXPECT_NE(settings.find("eval settings"), std::string::npos) << settings;

    // Against the destination's own results, once it has some.
    mergeProjects(*into, {a}, {}, {});
    EXPECT_NE(errorOf([&] { mergeProjects(*into, {other}, {}, {}); }).find("p.qsproj"), std::string::npos);
    EXPECT_NE(errorOf([&] { mergeProjects(*into, {dir / "p.qsproj"}, {}, {}); }).find("destination project itself"),
              std::string::npos);

    MergeOptions anyway;
    anyway.allowDifferent = true;
    mergeProjects(*into, {other, ctx}, anyway, {});
    EXPECT_EQ(into->runs().size(), 2u + 2u + 2u);
}
