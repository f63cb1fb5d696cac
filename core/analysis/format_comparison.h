// SPDX-License-Identifier: MIT
#pragma once
#include "statistics/error_metrics.h"
#include "base/job.h"
#include "quant/quant_spec.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

namespace qs::core {

/// One format/granularity applied to one tensor.
struct FormatTrial {
    QuantSpec spec;
    double bitsPerElement = 0;
    ErrorMetrics error;

    nlohmann::json toJson() const;
};

/// Every format of the table on a [rows, cols] matrix: per tensor, per channel and per group
/// (`groupSize`) for free-granularity formats (symmetric and, for INT, asymmetric), the format's own
/// block for MX/NV, once for casts. Sorted by bits per element, then MSE.
std::vector<FormatTrial> compareFormats(const float* x, std::int64_t rows, std::int64_t cols, int groupSize,
                                        const JobContext& job);

/// Descriptive numbers of a format's element grid, for listings: largest magnitude, smallest positive
/// value (the smallest subnormal for floats), dynamic range in dB, number of distinct values.
struct FormatFacts {
    double maxMagnitude = 0;
    double minPositive = 0;
    double dynamicRangeDb = 0;
    std::int64_t distinctValues = 0;
    double bitsPerElement = 0; ///< element bits plus the block scale share for MX/NV; element bits otherwise

    nlohmann::json toJson() const;
};

/// Facts of one table row.
FormatFacts formatFacts(const FormatTraits& f);

} // namespace qs::core
