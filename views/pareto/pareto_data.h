// SPDX-License-Identifier: MIT
// The Pareto view's pure logic (Qt-free): axes of a run, series grouping, the non-dominated front.
#pragma once
#include "store/project.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace qs::views {

/// The axes are run metrics by key (core/store/run_metrics.h): x a Size metric ("bits_per_weight",
/// "model_bytes"; less is better), y a Quality one ("perplexity", "kld_mean", "accuracy", ...), so a
/// metric added to the table is an axis the day it is added.
/// Hardware cost as x, for the runs priced on cost model NAME (`RunCosts`), relative to that design's
/// baseline (less is better): "cycles:NAME" (1 / speedup) and "energy:NAME" (1 / energy efficiency).
using RunCosts = std::map<std::string, std::map<std::int64_t, double>>; ///< axis key -> run id -> value
/// "cycles:NAME" / "energy:NAME".
std::string cyclesAxisKey(const std::string& costModel);
std::string energyAxisKey(const std::string& costModel);
bool isCostAxis(const std::string& key);

/// How runs are split into scatter series.
enum class ParetoGroup { Method = 0, Format = 1 };

/// One run as a point.
struct ParetoPoint {
    std::int64_t runId = 0;
    double x = 0, y = 0;
    std::string label; ///< the run's recipe label
    std::string group; ///< its series name
};

/// One scatter series (runs of one method or one format).
struct ParetoSeries {
    std::string name;
    std::vector<ParetoPoint> points;
};

/// A plan being chosen (the Mixed-precision dialog's slider), in the chart's axes: the solver's
/// predicted frontier as a dashed line and the current plan as a star.
struct ParetoPreview {
    std::string name;
    std::vector<std::pair<double, double>> frontier;
    std::optional<std::pair<double, double>> current;
};

/// Everything the plot draws.
struct ParetoData {
    std::vector<ParetoSeries> series;   ///< sorted by name
    std::vector<ParetoPoint> front;     ///< the non-dominated runs, by increasing x
    std::optional<double> referenceY;   ///< the fp32 reference's y (drawn as a line, not a point)
    std::int64_t referenceRunId = 0;    ///< 0 when the project has no reference run
    std::size_t skipped = 0;            ///< finished quantized runs without a value on x or y
    std::optional<ParetoPreview> preview; ///< a plan being chosen, when the axes can show it
};

/// True when a larger value of the metric is better (top-1 agreement, accuracy; never for a cost axis).
/// Throws for an unknown key.
bool higherIsBetter(const std::string& metric);
/// Axis title of the metric, e.g. "bits / weight", "Δ perplexity vs fp32".
std::string axisTitle(const std::string& metric);
/// True when the metric can be zero or negative (no log axis).
bool mayBeNonPositive(const std::string& metric);

/// The run's value of the metric (a cost axis: from `costs`), nullopt when it lacks the figure.
std::optional<double> axisValue(const core::RunRecord& run, const std::string& metric, const RunCosts& costs = {});
/// True for the fp32 reference run (recipe "{}").
bool isReferenceRun(const core::RunRecord& run);
/// The recipe's weight method ("rtn", "gptq") / format ("int4"); "fp32" for the reference and
/// "?" for a recipe without the key.
std::string recipeMethod(const core::RunRecord& run);
std::string recipeFormat(const core::RunRecord& run);

/// Indices of the non-dominated points of `xy` (x: less is better; y: less is better unless
/// `yHigherBetter`), ordered by increasing x. A point is dominated when another is at least as good
/// on both axes and strictly better on one; exact duplicates of a front point are all kept.
/// Points with a NaN coordinate are never on the front.
std::vector<std::size_t> paretoFrontIndices(const std::vector<std::pair<double, double>>& xy, bool yHigherBetter);

/// Which mixed-precision solvers chose each run (from Project::plans()): run id -> "clado+ilp".
std::map<std::int64_t, std::string> planSolvers(const std::vector<core::PlanRecord>& plans);

/// Points of the finished, quantized runs grouped into series, their front, and the reference line.
/// Per method, a run a mixed-precision plan chose (`plans`, from planSolvers) is in the series
/// "plan: SOLVERS" and labelled so, so every solver's frontier is its own series.
ParetoData buildParetoData(const std::vector<core::RunRecord>& runs, const std::string& x, const std::string& y,
                           ParetoGroup group, const std::map<std::int64_t, std::string>& plans = {},
                           const RunCosts& costs = {});

/// A predicted change of the held-out log-perplexity d = ln(ppl / ppl_fp32) on the y axis `y`:
/// ppl_fp32 · e^d for "perplexity", ppl_fp32 · (e^d − 1) for "delta_perplexity"; nullopt for any
/// other metric.
std::optional<double> predictedOnAxis(double deltaLogPerplexity, const std::string& y, double fp32Perplexity);

/// Puts a plan preview (points (bits per weight, d) as predictedOnAxis takes them) into `data` when
/// the axes can show it: x "bits_per_weight", y perplexity or Δ perplexity, and a reference run whose
/// perplexity is `fp32Perplexity`. Otherwise returns why not (empty when shown).
std::string addPlanPreview(ParetoData& data, const std::string& name,
                           const std::vector<std::pair<double, double>>& frontier,
                           const std::optional<std::pair<double, double>>& current, const std::string& x,
                           const std::string& y, std::optional<double> fp32Perplexity);

/// The run a report shows by default: on the bits/weight vs perplexity front, the one with the fewest
/// bits whose perplexity is within `tolerance` (relative) of the fp32 reference; without such a run
/// (or without a reference) the front run with the lowest perplexity. 0 when no run qualifies.
std::int64_t defaultReportRun(const std::vector<core::RunRecord>& runs, double tolerance = 0.05);

} // namespace qs::views
