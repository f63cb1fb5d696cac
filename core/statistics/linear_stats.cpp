// SPDX-License-Identifier: MIT
#include "statistics/linear_stats.h"

#include "base/error.h"

#include <algorithm>
#include <numeric>

namespace qs::core {

std::vector<float> LinearInputStats::hessianF32() const {
    if (xtx.rows() != features || xtx.cols() != features)
        throw Error("calibration statistics of '" + site + "' hold no X^T X (" + std::to_string(xtx.rows()) +
                    " x " + std::to_string(xtx.cols()) + " for " + std::to_string(features) + " features)");
    if (samples <= 0) throw Error("calibration statistics of '" + site + "' hold no samples");
    const double f = 2.0 / static_cast<double>(samples);
    std::vector<float> h(static_cast<std::size_t>(features * features));
    // xtx is symmetric, so row-major and column-major agree.
    for (std::int64_t r = 0; r < features; ++r)
        for (std::int64_t c = 0; c < features; ++c)
            h[static_cast<std::size_t>(r * features + c)] = static_cast<float>(f * xtx(r, c));
    return h;
}

LinearInputStats LinearInputStats::columns(std::int64_t begin, std::int64_t count) const {
    if (begin < 0 || count < 0 || begin + count > features)
        throw Error("calibration statistics of '" + site + "': no channels [" + std::to_string(begin) + ", " +
                    std::to_string(begin + count) + ") of " + std::to_string(features));
    LinearInputStats r;
    r.site = site;
    r.features = count;
    r.samples = samples;
    if (xtx.size() > 0) r.xtx = xtx.block(begin, begin, count, count);
    auto part = [&](const std::vector<double>& v, std::int64_t per) {
        return v.empty() ? v : std::vector<double>(v.begin() + begin * per, v.begin() + (begin + count) * per);
    };
    r.absMax = part(absMax, 1);
    r.absMean = part(absMean, 1);
    r.mean = part(mean, 1);
    r.variance = part(variance, 1);
    r.kurtosis = part(kurtosis, 1);
    r.absPercentiles = part(absPercentiles, static_cast<std::int64_t>(kAbsPercentileLevels.size()));
    return r;
}

double LinearInputStats::absPercentile(std::int64_t channel, std::size_t level) const {
    const std::size_t levels = kAbsPercentileLevels.size();
    if (absPercentiles.size() != static_cast<std::size_t>(features) * levels)
        throw Error("calibration statistics of '" + site + "' hold no percentiles of |x|");
    if (channel < 0 || channel >= features || level >= levels)
        throw Error("calibration statistics of '" + site + "': no percentile " + std::to_string(level) +
                    " of channel " + std::to_string(channel));
    return absPercentiles[static_cast<std::size_t>(channel) * levels + level];
}

std::vector<std::int64_t> LinearInputStats::topOutlierChannels(std::size_t k) const {
    std::vector<std::int64_t> idx(absMax.size());
    std::iota(idx.begin(), idx.end(), std::int64_t{0});
    k = std::min(k, idx.size());
    std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(),
                      [&](std::int64_t a, std::int64_t b) {
                          const double x = absMax[static_cast<std::size_t>(a)], y = absMax[static_cast<std::size_t>(b)];
                          return x > y || (x == y && a < b);
                      });
    idx.resize(k);
    return idx;
}

} // namespace qs::core
