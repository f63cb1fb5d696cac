// SPDX-License-Identifier: MIT
#include "statistics/tensor_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace qs::core {

nlohmann::json TensorStats::toJson() const {
    return {{"count", count},
            {"min", min},
            {"max", max},
            {"mean", mean},
            {"std", std},
            {"kurtosis", kurtosis},
            {"outlier_share_6sigma", outlierShare},
            {"channel_absmax_min", channelAbsmaxMin},
            {"channel_absmax_max", channelAbsmaxMax}};
}

TensorStats computeTensorStats(const float* x, std::int64_t rows, std::int64_t cols) {
    TensorStats s;
    const std::int64_t n = rows * cols;
    s.count = n;
    if (n == 0) return s;
    double sum = 0, lo = std::numeric_limits<double>::infinity(), hi = -lo;
#pragma omp parallel for reduction(+ : sum) reduction(min : lo) reduction(max : hi)
    for (std::int64_t i = 0; i < n; ++i) {
        const double v = x[i];
        sum += v;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    const double mean = sum / static_cast<double>(n);
    double m2 = 0, m4 = 0;
#pragma omp parallel for reduction(+ : m2, m4)
    for (std::int64_t i = 0; i < n; ++i) {
        const double d = x[i] - mean, d2 = d * d;
        m2 += d2;
        m4 += d2 * d2;
    }
    m2 /= static_cast<double>(n);
    m4 /= static_cast<double>(n);
    const double sd = std::sqrt(m2);
    std::int64_t outliers = 0;
    if (sd > 0) {
        const double limit = 6.0 * sd;
#pragma omp parallel for reduction(+ : outliers)
        for (std::int64_t i = 0; i < n; ++i) outliers += std::fabs(x[i] - mean) > limit;
    }
    double chLo = std::numeric_limits<double>::infinity(), chHi = 0;
    for (std::int64_t r = 0; r < rows; ++r) {
        float amax = 0;
        for (std::int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(x[r * cols + c]));
        chLo = std::min<double>(chLo, amax);
        chHi = std::max<double>(chHi, amax);
    }
    s.min = lo;
    s.max = hi;
    s.mean = mean;
    s.std = sd;
    s.kurtosis = m2 > 0 ? m4 / (m2 * m2) : 0;
    s.outlierShare = static_cast<double>(outliers) / static_cast<double>(n);
    s.channelAbsmaxMin = chLo;
    s.channelAbsmaxMax = chHi;
    return s;
}

} // namespace qs::core
