// SPDX-License-Identifier: MIT
#include "experiment/sweep.h"

#include "transform/transform_pipeline.h"

#include "base/error.h"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace qs::core {
namespace {

// The most fp32 logits a sweep keeps to compare every recipe with: the fixture's 64 windows of 128 take
// 16 MiB, a 32k-vocabulary Llama 16 MiB per 128-token window. Beyond, each recipe reruns fp32.
constexpr std::size_t kSweepReferenceLogitsBytes = std::size_t{1} << 30;
constexpr std::size_t kSweepResidualBytes = std::size_t{256} << 20;

const std::vector<std::string> kEvalKeys{"act-quant", "kv-quant", "calib", "calib-windows"};

std::string fmtDuration(double s) {
    const long long t = std::llround(std::max(0.0, s));
    char buf[32];
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", t / 3600, t / 60 % 60, t % 60);
    return buf;
}

nlohmann::json optJson(const std::optional<double>& v) {
    return v && std::isfinite(*v) ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

} // namespace

std::vector<std::string> sweepGridKeys(const Registries& registries) {
    std::vector<std::string> keys{"method", "asym", "layer"};
    for (const auto& p : quantSpecSchema()) keys.push_back(flagSpelling(p.name));
    const auto addParams = [&keys](const ParamSchema& schema) {
        for (const auto& p : schema)
            if (std::find(keys.begin(), keys.end(), flagSpelling(p.name)) == keys.end())
                keys.push_back(flagSpelling(p.name));
    };
    for (const auto* q : registries.quantizers.all()) addParams(q->params());
    for (const auto* t : registries.transforms.all()) addParams(t->params());
    keys.insert(keys.end(), kEvalKeys.begin(), kEvalKeys.end());
    return keys;
}

std::vector<SweepPoint> expandGrid(const nlohmann::json& grid, const Registries& registries) {
    if (!grid.is_object() || grid.empty())
        throw Error("grid: expected a JSON object {\"key\": [values...]} with at least one key");
    const auto valid = sweepGridKeys(registries);
    std::vector<std::pair<std::string, std::vector<nlohmann::json>>> axes;
    for (const auto& [key, v] : grid.items()) {
        if (std::find(valid.begin(), valid.end(), flagSpelling(key)) == valid.end()) {
            std::string list;
            for (const auto& k : valid) list += (list.empty() ? "" : ", ") + k;
            throw Error("grid: unknown key \"" + key + "\" (valid keys: " + list + ")");
        }
        std::vector<nlohmann::json> values;
        if (v.is_array())
            values.assign(v.begin(), v.end());
        else
            values.push_back(v);
        if (values.empty()) throw Error("grid: key \"" + key + "\" has an empty list of values");
        axes.emplace_back(flagSpelling(key), std::move(values));
    }
    std::vector<SweepPoint> points;
    std::vector<std::size_t> idx(axes.size(), 0);
    while (true) {
        SweepPoint p;
        p.values = nlohmann::json::object();
        for (std::size_t a = 0; a < axes.size(); ++a) p.values[axes[a].first] = axes[a].second[idx[a]];
        try {
            if (p.values.contains("calib")) p.calib = p.values["calib"].get<std::string>();
            if (p.values.contains("calib-windows")) {
                // Read as an integer only when it is one in range: 5e105 or -1 must not reach a conversion.
                const nlohmann::json& w = p.values["calib-windows"];
                constexpr long long kMaxWindows = 1000000000;
                const bool ok = w.is_number_unsigned() ? w.get<std::uint64_t>() <= std::uint64_t(kMaxWindows)
                                                       : w.is_number_integer() && w.get<long long>() >= 0 &&
                                                             w.get<long long>() <= kMaxWindows;
                if (!ok) throw Error("calib-windows must be a whole number from 0 to 1000000000");
                p.calibWindows = w.get<long long>();
            }
            if (!p.calib.empty() && p.calibWindows == 0) p.calibWindows = 128; // eval's default
            p.recipe = recipeFromFlatKeys(p.values, registries, "grid point");
            if (!recipeNeedsCalibration(*p.recipe, registries)) p.calib.clear(), p.calibWindows = 0;
        } catch (const std::exception& e) {
            p.recipe.reset();
            p.invalidReason = e.what();
        }
        points.push_back(std::move(p));
        std::size_t a = axes.size();
        while (a > 0) {
            --a;
            if (++idx[a] < axes[a].second.size()) break;
            idx[a] = 0;
            if (a == 0) return points;
        }
        if (axes.empty()) return points;
    }
}

nlohmann::json SweepOutcome::toJson() const {
    nlohmann::json j{{"status", status},
                     {"recipe", recipe},
                     {"label", label},
                     {"perplexity", optJson(perplexity)},
                     {"delta_perplexity", optJson(deltaPerplexity)},
                     {"kld", optJson(kldMean)},
                     {"accuracy", optJson(accuracy)},
                     {"bits_per_weight", optJson(bitsPerWeight)}};
    j["run_id"] = runId ? nlohmann::json(runId) : nlohmann::json(nullptr);
    if (!message.empty()) j["message"] = message;
    return j;
}

nlohmann::json SweepSummary::toJson() const {
    nlohmann::json runs = nlohmann::json::array();
    std::map<std::string, int> counts{{"done", 0}, {"skipped", 0}, {"failed", 0}, {"invalid", 0}, {"duplicate", 0}};
    for (const auto& o : outcomes) {
        runs.push_back(o.toJson());
        ++counts[o.status];
    }
    nlohmann::json reference{{"run_id", referenceRunId}, {"perplexity", referencePerplexity}};
    if (referenceAccuracy) reference["accuracy"] = *referenceAccuracy;
    nlohmann::json j{{"reference", reference},
                     {"runs", runs},
                     {"seconds", seconds},
                     {"prefix_cache", {{"layer_runs", layerRuns}, {"layer_runs_without_cache", layerRunsWithoutCache}}}};
    for (const auto& [k, n] : counts) j[k] = n;
    return j;
}

SweepSummary runSweep(Project& project, const std::vector<SweepPoint>& points, const SweepOptions& options,
                      const Registries& registries, const JobContext& ctx) {
    RecipeRunTarget target;
    target.model = openModel(options.model);
    target.data = options.data.string();
    target.labels = options.labels;
    target.eval = options.eval;
    target.commandLine = options.commandLine;
    const auto sweepStart = std::chrono::steady_clock::now();
    const JobContext inner{nullptr, ctx.cancel}; // a sweep's own progress is one line per run
    RecipeRunner runner(std::move(target), registries, &project, inner);
    runner.keepReferenceLogits(kSweepReferenceLogitsBytes); // every recipe is compared with the same fp32 logits
    if (options.prefixCache) runner.keepResidualStreams(kSweepResidualBytes);

    // The fp32 reference: evaluated once per model/data/settings and stored as the run of recipe "{}".
    SweepSummary summary;
    const RunRecord ref = runner.ensureReference(ctx);
    summary.referenceRunId = ref.id;
    summary.referencePerplexity = ref.metrics.perplexity.value_or(0);
    summary.referenceAccuracy = ref.metrics.accuracy;

    // Decide what to run: invalid, duplicate and already-finished points are reported, not run.
    std::map<std::string, std::set<std::string>> finished; // eval key -> canonical recipes
    std::set<std::string> seen;
    std::vector<std::size_t> todo;
    summary.outcomes.resize(points.size());
    const std::int64_t modelId = ref.modelId, datasetId = ref.datasetId;
    for (std::size_t i = 0; i < points.size(); ++i) {
        const auto& p = points[i];
        auto& o = summary.outcomes[i];
        if (!p.recipe) {
            o.status = "invalid";
            o.recipe = p.values;
            o.message = p.invalidReason;
            continue;
        }
        o.recipe = p.recipe->toJson();
        o.label = p.recipe->label();
        const std::string key = runner.settingsKey(*p.recipe, {p.calib, p.calibWindows});
        if (!finished.count(key)) finished[key] = project.finishedRecipes(modelId, datasetId, key);
        const std::string id = key + p.recipe->canonical();
        if (!seen.insert(id).second) {
            o.status = "duplicate";
            o.message = "same recipe as an earlier point";
            continue;
        }
        if (finished[key].count(p.recipe->canonical())) {
            o.status = "skipped";
            o.message = "already in the project";
            continue;
        }
        todo.push_back(i);
    }

    std::mutex mutex;
    std::atomic<std::size_t> next{0};
    std::size_t done = 0;
    const auto start = std::chrono::steady_clock::now();
    std::exception_ptr failure;
    auto worker = [&](bool singleThreaded) {
        if (singleThreaded) omp_set_num_threads(1);
        try {
            for (std::size_t n; (n = next++) < todo.size();) {
                ctx.checkCancel();
                {
                    std::lock_guard lock(mutex);
                    if (failure) return;
                }
                const std::size_t i = todo[n];
                const SweepPoint& p = points[i];
                const RecipeRunOutcome r = runner.run(*p.recipe, {p.calib, p.calibWindows}, inner, true);
                SweepOutcome o = summary.outcomes[i];
                o.runId = r.runId;
                if (r.reused) {
                    o.status = "skipped";
                    o.message = "stored meanwhile by another process";
                } else if (r.status == "failed") {
                    o.status = "failed";
                    o.message = r.error;
                } else {
                    o.status = "done";
                    o.perplexity = r.metrics.perplexity;
                    if (r.metrics.perplexity && r.metrics.referencePerplexity) o.deltaPerplexity = r.deltaPerplexity();
                    o.kldMean = r.metrics.kldMean;
                    o.accuracy = r.metrics.accuracy;
                    o.bitsPerWeight = r.metrics.bitsPerWeight;
                }
                std::lock_guard lock(mutex);
                summary.outcomes[i] = o;
                ++done;
                const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                const double eta = elapsed / static_cast<double>(done) * static_cast<double>(todo.size() - done);
                char buf[160];
                if (o.perplexity)
                    std::snprintf(buf, sizeof buf, ": ppl %.4f (%+.4f), KLD %.5f", *o.perplexity,
                                  o.deltaPerplexity.value_or(0), o.kldMean.value_or(0));
                else if (o.accuracy)
                    std::snprintf(buf, sizeof buf, ": accuracy %.4f", *o.accuracy);
                else
                    std::snprintf(buf, sizeof buf, ": %s", o.status.c_str());
                if (ctx.progress)
                    ctx.progress(static_cast<long long>(done), static_cast<long long>(todo.size()),
                                 o.label + buf + " | elapsed " + fmtDuration(elapsed) + ", ETA " + fmtDuration(eta));
            }
        } catch (...) {
            std::lock_guard lock(mutex);
            if (!failure) failure = std::current_exception();
        }
    };
    const int jobs = std::max(1, options.jobs);
    if (jobs == 1) {
        worker(false);
    } else {
        std::vector<std::thread> threads;
        for (int t = 0; t < jobs; ++t) threads.emplace_back(worker, true);
        for (auto& t : threads) t.join();
    }
    if (failure) std::rethrow_exception(failure);
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - sweepStart).count();
    summary.layerRuns = runner.layerRuns().made;
    summary.layerRunsWithoutCache = runner.layerRuns().withoutCache;
    return summary;
}

} // namespace qs::core
