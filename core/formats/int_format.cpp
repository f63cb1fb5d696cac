// SPDX-License-Identifier: MIT
#include "formats/int_format.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace qs::core {

ScaleParams intFit(const FormatTraits& f, const RangeStats& run, const RangeStats&, const ElementOptions& o) {
    const int k = f.elementBits;
    if (o.symmetric) {
        const float qmax = static_cast<float>((1 << (k - 1)) - 1) + (o.fullRange ? 0.5f : 0.0f);
        const float scale = run.amax > 0.0f ? run.amax / qmax : 1.0f;
        return {scale, 0.0f};
    }
    // GPTQ reference quantizer: zero is always representable.
    float xmin = std::min(0.0f, run.min);
    float xmax = std::max(0.0f, run.max);
    if (xmin == 0.0f && xmax == 0.0f) {
        xmin = -1.0f;
        xmax = 1.0f;
    }
    const float maxq = static_cast<float>((1 << k) - 1);
    float scale = (xmax - xmin) / maxq;
    if (!std::isfinite(scale)) scale = xmax / maxq - xmin / maxq; // range wider than FLT_MAX
    const float zero = std::nearbyint(-xmin / scale);
    return {scale, zero};
}

void intApplyRange(const float* in, float* out, std::size_t n, float scale, float zero, float lo, float hi) {
    if (scale == 0.0f) {
        std::fill(out, out + n, 0.0f);
        return;
    }
    // Division (not a reciprocal multiply) keeps the result bit-exact with the reference definition.
    // The final clamp only binds for ranges near FLT_MAX, where a rounded zero point could overflow.
    constexpr float big = std::numeric_limits<float>::max();
    for (std::size_t i = 0; i < n; ++i) {
        float q = std::nearbyint(in[i] / scale) + zero;
        q = std::min(std::max(q, lo), hi);
        out[i] = std::min(std::max(scale * (q - zero), -big), big);
    }
}

void intApply(const FormatTraits& f, const float* in, float* out, std::size_t n, const ScaleParams& p,
              const ElementOptions& o) {
    const int k = f.elementBits;
    const float half = static_cast<float>(1 << (k - 1));
    // Restricted symmetric grids use the codes -(2^(k-1)-1)..2^(k-1)-1 (finite inputs never reach
    // -2^(k-1), so infinities saturate onto the symmetric grid); full-range ones add -2^(k-1).
    const float hi = o.symmetric ? half - 1.0f : 2.0f * half - 1.0f;
    const float lo = o.symmetric ? (o.fullRange ? -half : -hi) : 0.0f;
    intApplyRange(in, out, n, p.scale, p.zero, lo, hi);
}

} // namespace qs::core
