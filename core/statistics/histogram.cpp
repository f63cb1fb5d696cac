// SPDX-License-Identifier: MIT
#include "statistics/histogram.h"

#include "base/error.h"

#include <algorithm>
#include <cmath>

namespace qs::core {

Histogram computeHistogram(const float* x, std::int64_t n, int bins, double lo, double hi) {
    if (bins <= 0 || !(hi > lo)) throw Error("histogram: need bins > 0 and hi > lo");
    Histogram h;
    h.lo = lo;
    h.hi = hi;
    h.counts.assign(static_cast<std::size_t>(bins), 0);
    const double scale = bins / (hi - lo);
    for (std::int64_t i = 0; i < n; ++i) {
        const double v = x[i];
        if (std::isnan(v)) continue;
        if (v < lo) {
            ++h.underflow;
        } else if (v > hi) {
            ++h.overflow;
        } else {
            auto b = static_cast<std::int64_t>((v - lo) * scale);
            h.counts[static_cast<std::size_t>(std::min<std::int64_t>(b, bins - 1))]++;
        }
    }
    return h;
}

Histogram computeHistogram(const float* x, std::int64_t n, int bins) {
    double lo = 0, hi = 0;
    bool any = false;
    for (std::int64_t i = 0; i < n; ++i) {
        if (!std::isfinite(x[i])) continue;
        lo = any ? std::min<double>(lo, x[i]) : x[i];
        hi = any ? std::max<double>(hi, x[i]) : x[i];
        any = true;
    }
    if (!(hi > lo)) {
        lo -= 0.5;
        hi += 0.5;
    }
    return computeHistogram(x, n, bins, lo, hi);
}

} // namespace qs::core
