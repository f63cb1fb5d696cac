// SPDX-License-Identifier: MIT
#pragma once
#include "quant/quantizer.h"

namespace qs::core {

/// Quantizes the first `high` input columns of `w` with `highSpec` and the rest with `lowSpec` through
/// `method` (Quantizer::quantizeColumnBlocks: GPTQ carries the error of the high columns into the low
/// ones in one pass, other methods quantize each block on its own). Returns the stored bits per weight
/// of the whole matrix (both parts' codes, scales and zero points).
double quantizeMixedColumns(const Quantizer& method, const WeightMatrix& w, std::int64_t high,
                            const QuantSpec& highSpec, const QuantSpec& lowSpec, const nlohmann::json& params,
                            float* out, const JobContext& job);

} // namespace qs::core
