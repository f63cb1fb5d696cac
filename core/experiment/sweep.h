// SPDX-License-Identifier: MIT
// Resumable recipe sweeps into a project.
#pragma once
#include "experiment/builtins.h"
#include "base/job.h"
#include "quant/recipe.h"
#include "eval/perplexity.h"
#include "store/project.h"
#include "experiment/recipe_run.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace qs::core {

/// One point of a grid: its key/value assignment and what it became.
struct SweepPoint {
    nlohmann::json values;          ///< {"format": "int4", "group": 32, ...}
    std::optional<Recipe> recipe;   ///< nullopt when the combination is invalid
    std::string invalidReason;      ///< why (the schema's message)
    std::string calib;              ///< eval key "calib" (a file), empty when not set
    long long calibWindows = 0;     ///< eval key "calib-windows", 0 when not set
};

/// The keys a grid may use: quantSpecSchema() names (flag spelling, e.g. "full-range"), "asym",
/// "method" (a chain "rotate+gptq" too), every registered method's and transform's parameters, and the eval keys act-quant, kv-quant, calib,
/// calib-windows.
std::vector<std::string> sweepGridKeys(const Registries& registries);

/// Expands GRID.json ({key: [values...]} — a scalar is a one-element list) into the cartesian product
/// of points, each validated through the same schema code the CLI uses. Unknown keys throw Error
/// listing the valid ones; invalid combinations (e.g. granularity group with a fixed-block format)
/// come back with recipe == nullopt and a reason, so a sweep can report and skip them.
std::vector<SweepPoint> expandGrid(const nlohmann::json& grid, const Registries& registries);

/// What a sweep evaluates and where it stores it.
struct SweepOptions {
    std::filesystem::path model;
    std::filesystem::path data; ///< LM: text or token .npy; .onnx classifier: images (X.npy | FILE.h5:DATASET)
    std::string labels;         ///< .onnx classifier only: the images' labels (Y.npy | FILE.h5:DATASET)
    EvalOptions eval;
    int jobs = 1;            ///< recipes in parallel, each single-threaded
    /// Language models: keep residual streams (256 MiB at most) so that a recipe whose layers below L
    /// compute what an earlier recipe's or the fp32 model's did starts at layer L; same results.
    bool prefixCache = true;
    std::string commandLine; ///< for provenance
};

/// One point's outcome.
struct SweepOutcome {
    std::string status; ///< "done", "skipped" (already in the project), "failed", "invalid", "duplicate"
    std::int64_t runId = 0;
    nlohmann::json recipe;
    std::string label;
    std::optional<double> perplexity, deltaPerplexity, kldMean, bitsPerWeight;
    std::optional<double> accuracy; ///< classifiers
    std::string message;

    nlohmann::json toJson() const;
};

/// Summary of a sweep (counts and each outcome).
struct SweepSummary {
    std::int64_t referenceRunId = 0;
    double referencePerplexity = 0;
    std::optional<double> referenceAccuracy; ///< classifiers
    std::vector<SweepOutcome> outcomes;
    double seconds = 0; ///< wall time of the whole sweep, the fp32 reference included
    /// Language models: decoder-layer runs (one layer over one window) made, and those that would
    /// have been made without the prefix cache.
    long long layerRuns = 0, layerRunsWithoutCache = 0;

    /// {"project", "reference": {run_id, perplexity}, "done", "skipped", "failed", "invalid", "seconds",
    /// "prefix_cache": {"layer_runs", "layer_runs_without_cache"}, "runs": [...]}.
    nlohmann::json toJson() const;
};

/// Runs every point not yet finished in `project` for this model, data and eval settings (the fp32
/// reference first, evaluated once and stored as the run of recipe "{}"), storing each run in one
/// transaction as it finishes (each point through RecipeRunner::run, as the GUI's Evaluate). Progress:
/// one step per point with an ETA in the message. Failed points are stored with status "failed" and do
/// not stop the sweep. Cancellable between and inside runs.
SweepSummary runSweep(Project& project, const std::vector<SweepPoint>& points, const SweepOptions& options,
                      const Registries& registries, const JobContext& ctx);

} // namespace qs::core
