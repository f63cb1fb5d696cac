// SPDX-License-Identifier: MIT
#include "outlier_stats.h"

#include "analysis/transformed_stats.h"

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
    core::WeightChannels c = core::weightChannels(w, rows, cols);
    WeightChannelStats s;
    s.outAbsMax = std::move(c.outAbsMax);
    s.inAbsMax = std::move(c.inAbsMax);
    s.kurtosis = c.kurtosis;
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
                          const double va = values[static_cast<std::size_t>(a)],
                                       vb = values[static_cast<std::size_t>(b)];
                          return va != vb ? va > vb : a < b;
                      });
    idx.resize(k);
    return idx;
}

} // namespace qs::views
