// SPDX-License-Identifier: MIT
#pragma once
#include "quant/quantizer.h"

namespace qs::core {

/// Quantizes the first `high` input columns of `w` with `highSpec` and the rest with `lowSpec`, each
/// part as its own weight matrix through `method` (a calibrated method gets the matching block of the
/// input statistics; error compensation does not cross the split). Returns the stored bits per weight
/// of the whole matrix (both parts' codes, scales and zero points).
double quantizeMixedColumns(const Quantizer& method, const WeightMatrix& w, std::int64_t high, const QuantSpec& highSpec,
                            const QuantSpec& lowSpec, const nlohmann::json& params, float* out, const JobContext& job);

/// Columns [begin, begin + count) of input statistics (xtx block, per-channel vectors).
LinearInputStats sliceStats(const LinearInputStats& s, std::int64_t begin, std::int64_t count);

} // namespace qs::core
