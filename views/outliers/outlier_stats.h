// SPDX-License-Identifier: MIT
// The Outliers view's arithmetic (Qt-free): per-channel magnitudes of a weight matrix, percentile
// bands across channels, the largest channels.
#pragma once
#include <cstdint>
#include <vector>

namespace qs::views {

/// Percentiles of the per-channel absmax across channels.
struct ChannelBands {
    double p0 = 0, p5 = 0, p25 = 0, p50 = 0, p75 = 0, p95 = 0, p100 = 0;
};

/// Per-channel view of a row-major [rows = output channels, cols = input channels] weight.
struct WeightChannelStats {
    std::vector<double> outAbsMax; ///< max |w| of each output channel (row)
    std::vector<double> inAbsMax;  ///< max |w| of each input channel (column)
    ChannelBands outBands, inBands;
    double kurtosis = 0; ///< Pearson kurtosis m4/m2² of all weights (3 for a Gaussian)
};

/// Percentile `q` (0..100) of `values` with linear interpolation between order statistics; 0 when empty.
double percentile(std::vector<double> values, double q);
/// All bands of `values`.
ChannelBands channelBands(const std::vector<double>& values);
/// Per-channel absmax, bands and kurtosis of `w` [rows, cols].
WeightChannelStats weightChannelStats(const float* w, std::int64_t rows, std::int64_t cols);
/// Indices of the k largest values, largest first (ties: lower index first).
std::vector<std::int64_t> topChannels(const std::vector<double>& values, std::size_t k);

} // namespace qs::views
