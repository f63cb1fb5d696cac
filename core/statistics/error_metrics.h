// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>

namespace qs::core {

/// How far a quantized tensor is from the original.
struct ErrorMetrics {
    double mse = 0;      ///< mean squared error
    double sqnrDb = 0;   ///< 10 log10(signal power / noise power); +inf when exact
    double maxAbs = 0;   ///< largest absolute error
};

/// Compares n values in float64.
ErrorMetrics computeError(const float* original, const float* quantized, std::int64_t n);

} // namespace qs::core
