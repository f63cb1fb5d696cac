// SPDX-License-Identifier: MIT
#include "transform/mixed_quant.h"

#include <algorithm>

namespace qs::core {

double quantizeMixedColumns(const Quantizer& method, const WeightMatrix& w, std::int64_t high,
                            const QuantSpec& highSpec, const QuantSpec& lowSpec, const nlohmann::json& params,
                            float* out, const JobContext& job) {
    high = std::clamp<std::int64_t>(high, 0, w.cols);
    method.quantizeColumnBlocks(w, high, highSpec, lowSpec, params, out, job);
    double bits = 0;
    if (high > 0)
        bits += method.bitsPerWeight(highSpec, params, w.rows, high) * static_cast<double>(w.rows * high);
    if (high < w.cols)
        bits += method.bitsPerWeight(lowSpec, params, w.rows, w.cols - high) *
                static_cast<double>(w.rows * (w.cols - high));
    return bits / static_cast<double>(w.rows * w.cols);
}

} // namespace qs::core
