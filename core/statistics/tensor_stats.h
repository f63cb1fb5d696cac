// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>

namespace qs::core {

/// Distribution summary of one weight, shown in the layer table.
struct TensorStats {
    std::int64_t count = 0;
    double min = 0, max = 0, mean = 0, std = 0;
    double kurtosis = 0;          ///< Pearson kurtosis m4/m2^2 (3 for a Gaussian)
    double outlierShare = 0;      ///< share of elements with |x - mean| > 6 std
    double channelAbsmaxMin = 0;  ///< smallest per-output-channel absmax
    double channelAbsmaxMax = 0;  ///< largest per-output-channel absmax

    nlohmann::json toJson() const;
};

/// Statistics of a row-major [rows, cols] matrix (rows = output channels), in float64, two passes.
TensorStats computeTensorStats(const float* x, std::int64_t rows, std::int64_t cols);

} // namespace qs::core
