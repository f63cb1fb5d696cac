// SPDX-License-Identifier: MIT
#pragma once
#include "data/calib_data.h"
#include "statistics/linear_stats.h"
#include "base/job.h"
#include "model/model.h"
#include "nn/causal_lm.h"

#include <filesystem>
#include <string>
#include <vector>

namespace qs::core {

/// Where fp32 calibration statistics are cached (DESIGN.md: computed once per model and dataset).
struct CalibCacheOptions {
    bool enabled = true;
    std::filesystem::path dir; ///< empty = defaultCalibCacheDir()
};

/// $XDG_CACHE_HOME/quantscope, else ~/.cache/quantscope (empty when neither variable is set).
std::filesystem::path defaultCalibCacheDir();

/// Hex key of (model path, name + size + mtime of each of its files, the calibration tokens, ctx,
/// windows, withGram): any change to the weights or the data gives a new key.
std::string calibCacheKey(const Model& model, const CalibrationData& data, bool withGram);

/// Writes all sites' statistics to an HDF5 file atomically (temporary file + rename).
/// Throws Error naming the file.
void saveCalibStats(const std::filesystem::path& file, const std::string& key,
                    const std::vector<LinearInputStats>& stats);

/// Reads statistics written by saveCalibStats. Throws Error naming the file when it is unreadable,
/// malformed or written for another key.
std::vector<LinearInputStats> loadCalibStats(const std::filesystem::path& file, const std::string& key);

/// collectModelStats through the cache: a valid cache file is read, otherwise the statistics are
/// computed and stored. A corrupt or unwritable cache is not an error: a line goes to `warnings`.
std::vector<LinearInputStats> cachedModelStats(const Model& model, const CausalLm& lm, const CalibrationData& data,
                                               bool withGram, const CalibCacheOptions& options, const JobContext& job,
                                               std::vector<std::string>* warnings = nullptr);

} // namespace qs::core
