// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>
#include <vector>

namespace qs::core {

/// Equal-width histogram over [lo, hi]; values outside are counted in underflow/overflow.
struct Histogram {
    double lo = 0, hi = 0;
    std::vector<std::int64_t> counts;
    std::int64_t underflow = 0, overflow = 0;

    /// Width of one bin.
    double binWidth() const { return counts.empty() ? 0 : (hi - lo) / static_cast<double>(counts.size()); }
    /// Centre of bin i.
    double binCentre(std::size_t i) const { return lo + (static_cast<double>(i) + 0.5) * binWidth(); }
};

/// Histogram of n values with `bins` bins over [lo, hi] (hi > lo); the top edge belongs to the last bin.
Histogram computeHistogram(const float* x, std::int64_t n, int bins, double lo, double hi);
/// Same over the values' own [min, max] (a degenerate range is widened by 0.5 each side).
Histogram computeHistogram(const float* x, std::int64_t n, int bins);

} // namespace qs::core
