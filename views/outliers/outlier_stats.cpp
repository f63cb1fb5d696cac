// SPDX-License-Identifier: MIT
#include "outlier_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace qs::views {

double percentile(std::vector<double> values, double q) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const double pos = std::clamp(q, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, values.size() - 1);
    return values[lo] + (pos - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

ChannelBands channelBands(const std::vector<double>& v) {
    return {percentile(v, 0),  percentile(v, 5),  percentile(v, 25), percentile(v, 50),
            percentile(v, 75), percentile(v, 95), percentile(v, 100)};
}

WeightChannelStats weightChannelStats(const float* w, std::int64_t rows, std::int64_t cols) {
    WeightChannelStats s;
    s.outAbsMax.assign(static_cast<std::size_t>(rows), 0.0);
    s.inAbsMax.assign(static_cast<std::size_t>(cols), 0.0);
    double sum = 0;
    const double n = static_cast<double>(rows) * static_cast<double>(cols);
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c) {
            const double x = w[r * cols + c];
            const double a = std::abs(x);
            s.outAbsMax[static_cast<std::size_t>(r)] = std::max(s.outAbsMax[static_cast<std::size_t>(r)], a);
            s.inAbsMax[static_cast<std::size_t>(c)] = std::max(s.inAbsMax[static_cast<std::size_t>(c)], a);
            sum += x;
        }
    // Second pass for the central moments (a one-pass formula loses digits on large layers).
    const double mean = n > 0 ? sum / n : 0;
    double m2 = 0, m4 = 0;
    for (std::int64_t i = 0; i < rows * cols; ++i) {
        const double d = w[i] - mean, d2 = d * d;
        m2 += d2;
        m4 += d2 * d2;
    }
    if (n > 0 && m2 > 0) s.kurtosis = (m4 / n) / ((m2 / n) * (m2 / n));
    s.outBands = channelBands(s.outAbsMax);
    s.inBands = channelBands(s.inAbsMax);
    return s;
}

std::vector<std::int64_t> topChannels(const std::vector<double>& values, std::size_t k) {
    std::vector<std::int64_t> idx(values.size());
    std::iota(idx.begin(), idx.end(), 0);
    k = std::min(k, idx.size());
    std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(),
                      [&](std::int64_t a, std::int64_t b) {
                          const double va = values[static_cast<std::size_t>(a)], vb = values[static_cast<std::size_t>(b)];
                          return va != vb ? va > vb : a < b;
                      });
    idx.resize(k);
    return idx;
}

} // namespace qs::views
