// SPDX-License-Identifier: MIT
#pragma once
// What the "predict" analysis learns from: a project's evaluated runs of one model, as training rows,
// and the recipes of a sweep grid not evaluated yet, as candidates. One path for the CLI and the GUI.
#include "experiment/analysis_run.h"
#include "experiment/builtins.h"
#include "experiment/sweep.h"
#include "store/project.h"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace qs::core {

/// Fills `request` (name "predict"; its params' target, learners and seed as given) from `project`:
/// the model (`modelPath`, or the one with the most finished runs), the training rows (the newest
/// finished run of each weight recipe with its target: ln(ppl / ppl_fp32) or the mean KL), the fp32
/// perplexity, the candidates (the valid recipes of `grid` not evaluated yet; none without a grid) and
/// the data the curvature features read (`dataPath`, or the runs' most used evaluation data). Returns
/// how many grid recipes were skipped as evaluated. Throws Error naming the project when it holds no
/// finished run (of that model).
long long fillPredictRequest(AnalysisRequest& request, Project& project, const Registries& registries,
                             const std::string& modelPath, const nlohmann::json* grid, const std::string& dataPath);

/// The order a sweep runs its points in, given the predict analysis's predictions of them.
enum class SweepOrder {
    Grid,      ///< as the grid lists them
    Promising, ///< best predicted quality first: the frontier's candidates are measured first
    Uncertain, ///< the learners' largest disagreement first: what teaches the predictor most
};
/// "grid" / "promising" / "uncertain"; throws Error naming `owner` for anything else.
SweepOrder sweepOrderFromName(const std::string& name, const std::string& owner);

/// `points` in `order`: the points whose recipe `predictions` holds ([{recipe, predicted, uncertainty}],
/// the predict analysis's "predictions") first, by predicted quality or by uncertainty (ties and
/// SweepOrder::Grid keep the grid's order), then the others in the grid's order. Nothing is dropped.
/// Throws Error when a prediction's recipe is not a valid recipe.
std::vector<SweepPoint> orderSweepPoints(std::vector<SweepPoint> points, const nlohmann::json& predictions,
                                         SweepOrder order, const Registries& registries);

} // namespace qs::core
