// SPDX-License-Identifier: MIT
#pragma once
#include "statistics/histogram.h"

#include <filesystem>
#include <string>
#include <vector>

namespace qs::core {

/// The large per-run arrays that live in HDF5 beside a project (not in SQLite).
/// Layout of one run file:
///   /layers/<layer name>/error_histogram   int64[bins], attributes lo, hi, underflow, overflow (float64/int64)
///   /per_layer/bits_per_weight, /per_layer/mse, /per_layer/sqnr_db, /per_layer/max_abs_error   float64[layers]
///     (layer order = /per_layer/names attribute "names", newline-separated; sqnr_db of an exact layer is +inf)
struct LayerArrays {
    std::string name;
    Histogram errorHistogram; ///< of (quantized - original) weights, kErrorHistogramBins bins over ±max|error|
    double bitsPerWeight = 0, mse = 0, sqnrDb = 0, maxAbsError = 0;
};

/// Bins of each stored weight-error histogram.
inline constexpr int kErrorHistogramBins = 64;

struct RunArrays {
    std::vector<LayerArrays> layers;
};

/// HDF5 path of a layer's error histogram inside a run file (what layer rows point to).
std::string errorHistogramPath(const std::string& layerName);

/// Writes `arrays` to `path` crash-safely: into a temporary file beside it that is closed, then renamed
/// over `path`, so a killed process leaves either no file or a complete one (never a damaged one).
/// Throws Error naming the file.
void writeRunArrays(const std::filesystem::path& path, const RunArrays& arrays);

/// Reads a run file written by writeRunArrays; throws Error naming the file when it is missing or
/// not a readable HDF5 file of this layout.
RunArrays readRunArrays(const std::filesystem::path& path);

} // namespace qs::core
