// SPDX-License-Identifier: MIT
// One registered analysis run on a model and its data set and stored in a project with what produced
// it; a stored analysis of the same inputs is re-opened instead of recomputed.
#pragma once
#include "analysis/analysis.h"
#include "experiment/builtins.h"
#include "model/model.h"
#include "store/project.h"

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace qs::core {

struct AnalysisRequest {
    std::string name; ///< registry name, e.g. "sensitivity"
    std::shared_ptr<const Model> model;
    std::string setPath;    ///< text or token .npy: the analysis's fixed windows (the calibration data)
    int ctx = 128;          ///< tokens per window
    long long windows = 16; ///< windows taken from the start of the set
    nlohmann::json params = nlohmann::json::object(); ///< given values; defaults fill the rest
    std::string calibPath;       ///< optional calibration data (text or token .npy) for calibrated methods
    long long calibWindows = 128; ///< its windows of ctx tokens
    std::string commandLine;                          ///< provenance
};

struct AnalysisOutcome {
    AnalysisOutput output;
    nlohmann::json settings; ///< the canonical settings the analysis is keyed by
    nlohmann::json manifest; ///< what produced it
    std::int64_t id = 0;     ///< stored analysis, 0 without a project
    bool reused = false;     ///< re-opened from the project, nothing recomputed
    double seconds = 0;      ///< of the computation (the stored one when reused)

    /// {"analysis", "id", "reused", "settings", "manifest", "result": summary}.
    nlohmann::json toJson() const;
};

/// Validates the parameters, then (with a project) returns the stored analysis of the same kind,
/// model, data and settings, or runs it and stores it in one transaction after all computing is done
/// (a cancel stores nothing). Throws Error naming the file for unreadable data, for unknown
/// parameters; Cancelled.
AnalysisOutcome runAnalysis(const AnalysisRequest& request, const Registries& registries, Project* project,
                            const JobContext& job);

/// Stores a computed outcome as an analysis of `kind` in one transaction; returns its id (the other's
/// when another process stored the same analysis first).
std::int64_t storeAnalysisOutcome(Project& project, const std::string& kind, std::int64_t modelId,
                                  std::int64_t datasetId, const AnalysisOutcome& out, const std::string& startedAt,
                                  const std::string& commandLine);

/// A stored analysis re-opened (summary, rows and arrays). Throws Error when absent.
AnalysisOutcome openAnalysis(Project& project, std::int64_t id);

} // namespace qs::core
