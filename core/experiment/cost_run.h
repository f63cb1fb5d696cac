// SPDX-License-Identifier: MIT
// Pricing a recipe on an accelerator cost model: quantize the model as the recipe says, capture the
// layers' codes on calibration data, run the registered cost model on every layer, and (with a
// project) store the result as an analysis of kind "cost" keyed by model, data and settings.
#pragma once
#include "cost/cost_model.h"
#include "experiment/analysis_run.h"
#include "experiment/builtins.h"
#include "experiment/run_export.h"
#include "quant/recipe.h"
#include "store/project.h"

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace qs::core {

struct CostRequest {
    std::shared_ptr<const Model> model;
    Recipe recipe;           ///< what is priced ({} = fp32, every operand at nativeBits)
    std::string costModel;   ///< registry name, e.g. "loom"
    nlohmann::json params = nlohmann::json::object(); ///< given values; defaults fill the rest
    /// Language model: text or token .npy whose first `windows` windows of `ctx` tokens are captured
    /// (and calibrate a calibrated method; 0: one window). Classifier: images (X.npy, FILE.h5:DATASET),
    /// the first `windows` of them (0: all).
    std::string dataPath;
    int ctx = 128;
    long long windows = 0;
    int nativeBits = 16;     ///< width of unquantized operands
    std::int64_t runId = 0;  ///< the stored run whose recipe this prices (0: none; recorded in the settings)
    std::string commandLine; ///< provenance
};

/// Prices the request. The outcome's summary is {"cost_model", "mode" ("paper", "dnnsim", or "one
/// reading" for a design the two modes price alike), "label", "recipe", "total",
/// "figures" (the model's own whole-model figures, or null), "capture"}; its rows are the layers'
/// LayerCost::toJson(). With a project, the same model, data and settings re-open the stored result.
/// Throws Error for an unknown cost model, bad parameters, unreadable data; Cancelled.
AnalysisOutcome runCost(const CostRequest& request, const Registries& registries, Project* project,
                        const JobContext& job);

/// The CLI's --json shape: {"cost_model", "mode", "label", "layers": [...], "total": {...}, "figures",
/// "capture", "id", "reused", "settings", "manifest"}.
nlohmann::json costJson(const AnalysisOutcome& outcome);

/// A stored run priced on a cost model: one point of accuracy against hardware cost.
struct CostPoint {
    std::int64_t runId = 0, analysisId = 0;
    std::string label;            ///< the run's recipe label
    double speedup = 0;           ///< whole-model, over the design's baseline
    double energyEfficiency = 0;  ///< baseline energy / energy
    RunMetrics metrics;           ///< the run's quality and size figures
};

/// The newest pricing of every stored run of `project` on `costModel` (analyses of kind "cost" made
/// with --run), in run order.
std::vector<CostPoint> storedCostPoints(Project& project, const std::string& costModel);

/// The cost models the project's runs were priced on (analyses of kind "cost" made with --run), sorted.
std::vector<std::string> pricedCostModels(Project& project);

} // namespace qs::core
