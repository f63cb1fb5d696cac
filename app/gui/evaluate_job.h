// SPDX-License-Identifier: MIT
// The GUI's Evaluate action as plain C++ (no Qt): quantize with one recipe, compare with fp32, store.
#pragma once
#include "engine/builtins.h"
#include "engine/job.h"
#include "engine/recipe.h"
#include "eval/perplexity.h"
#include "model/model.h"
#include "store/project.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace qs::gui {

/// What Evaluate measures: the open model, its evaluation data and settings, one recipe.
struct EvaluateRequest {
    std::shared_ptr<const core::Model> model;
    std::filesystem::path data;  ///< text or token .npy
    core::EvalOptions eval;      ///< ctx and windows
    core::Recipe recipe;         ///< weights (+ optional activation / KV-cache fake quantization)
    std::filesystem::path calib; ///< calibration data; used only when the method needs calibration
    long long calibWindows = 128;
    std::string commandLine = "quantscope (GUI) evaluate"; ///< provenance of stored runs
};

/// What Evaluate found. With a project, runs are stored exactly as core::runSweep stores them (same
/// canonical recipe and eval-settings keys, same layer rows and arrays), so a later sweep skips them.
struct EvaluateOutcome {
    std::string label;        ///< "rtn int4 asym group 32"
    std::string recipe;       ///< canonical recipe JSON
    std::string evalSettings; ///< canonical eval-settings JSON of the recipe's run
    std::string dataSource;   ///< what readTokenData read
    core::RunMetrics metrics; ///< perplexity, reference perplexity, KLD mean / p99, top-1, bits/weight
    double modelBitsPerWeight = 0;
    double seconds = 0;
    std::int64_t runId = 0;          ///< stored run, 0 without a project
    std::int64_t referenceRunId = 0; ///< the fp32 run of these settings, 0 without a project
    bool reused = false; ///< the project already had this run: its stored figures, nothing recomputed

    /// candidate - reference perplexity (0 when either is missing).
    double deltaPerplexity() const;
};

/// Quantizes `req.model` with `req.recipe`, evaluates fp32 and quantized perplexity on the same windows
/// with KLD / top-1 agreement, and (when `project` is given) stores the fp32 reference run (if the
/// project lacks it) and the recipe's run, each in one transaction after all computing is done; a
/// cancel before that stores nothing. A recipe the project already has is not recomputed (`reused`).
/// Progress: quantization then evaluation windows, one scale. Throws Error / Cancelled.
EvaluateOutcome evaluateRecipe(const EvaluateRequest& req, const core::Registries& registries,
                               core::Project* project, const core::JobContext& ctx);

} // namespace qs::gui
