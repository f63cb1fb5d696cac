// SPDX-License-Identifier: MIT
// Merging projects into one: the shards of a sweep split over processes or Slurm array tasks.
#pragma once
#include "base/job.h"
#include "store/project.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace qs::core {

/// What a project's results were made on, by content: the model and data hashes its runs and analyses
/// use and the eval settings of its fp32 reference runs (every sweep shard stores one).
struct ProjectSignature {
    std::set<std::string> models;            ///< "HASH (PATH)"
    std::set<std::string> datasets;          ///< "HASH (PATH)"
    std::set<std::string> referenceSettings; ///< canonical eval-settings JSON of the "{}" runs

    bool empty() const { return models.empty() && datasets.empty() && referenceSettings.empty(); }
};

/// The signature of an open project.
ProjectSignature projectSignature(Project& project);

struct MergeOptions {
    /// Merge sources made on other models, data or eval settings too (a project may hold several).
    bool allowDifferent = false;
    std::string commandLine; ///< recorded in the destination's "merge.history" setting
};

/// What merging one source did.
struct MergeSourceSummary {
    std::string path;
    int runsAdded = 0, runsDuplicate = 0;
    int analysesAdded = 0, analysesDuplicate = 0;
    int plansAdded = 0, plansDuplicate = 0;

    nlohmann::json toJson() const;
};

struct MergeSummary {
    std::vector<MergeSourceSummary> sources;

    /// {"sources": [...], "runs_added", "runs_duplicate", "analyses_added", ...} (totals).
    nlohmann::json toJson() const;
};

/// Copies every run (metrics, layer rows, its HDF5 arrays file byte for byte), analysis (rows and
/// arrays file) and plan of `sources` into `into`, with the provenance row (program version, host,
/// date, command line: which shard's command produced it) of each. A finished run whose recipe,
/// model, data and eval settings `into` already holds finished, a failed run of a key `into` already
/// has, and an analysis or plan of the same key are dropped as duplicates, so merging twice adds
/// nothing. Model and data are matched by content hash.
///
/// Before anything is written every source is checked: readable, not `into` itself, its arrays files
/// present, and (unless allowDifferent) made on the same models, data and fp32 eval settings as
/// `into` (when it holds results) or else the first source; a mismatch throws Error naming both files
/// and what differs. Each run is stored in its own transaction (a killed merge loses nothing stored,
/// and running it again completes it). Appends one entry per source to the "merge.history" setting.
MergeSummary mergeProjects(Project& into, const std::vector<std::filesystem::path>& sources,
                           const MergeOptions& options, const JobContext& ctx);

} // namespace qs::core
