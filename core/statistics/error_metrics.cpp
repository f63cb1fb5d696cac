// SPDX-License-Identifier: MIT
#include "statistics/error_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace qs::core {

ErrorMetrics computeError(const float* original, const float* quantized, std::int64_t n) {
    double noise = 0, signal = 0, worst = 0;
#pragma omp parallel for reduction(+ : noise, signal) reduction(max : worst)
    for (std::int64_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(original[i]) - quantized[i];
        noise += d * d;
        signal += static_cast<double>(original[i]) * original[i];
        worst = std::max(worst, std::fabs(d));
    }
    ErrorMetrics e;
    e.mse = n ? noise / static_cast<double>(n) : 0;
    e.maxAbs = worst;
    e.sqnrDb = noise > 0 ? 10.0 * std::log10(signal / noise) : std::numeric_limits<double>::infinity();
    return e;
}

} // namespace qs::core
