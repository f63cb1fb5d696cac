// SPDX-License-Identifier: MIT
#include "formats/int_format.h"

#include "formats/format_simd.h"

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

void intFitRangeRuns(const FormatTraits& f, const RangeStats* range, std::size_t count, const RangeStats& tensor,
                     const ElementOptions& o, ScaleParams* out) {
    if (o.symmetric) {
        for (std::size_t k = 0; k < count; ++k) out[k] = intFit(f, range[k], tensor, o);
        return;
    }
    // intFit's asymmetric operations lane-wise (std::min(a, b) is b < a ? b : a).
    using namespace simd;
    const F8 zero{}, one = splat(1.0f), maxq = splat(static_cast<float>((1 << f.elementBits) - 1));
    const I8 inf = I8{} + 0x7f800000;
    std::size_t k = 0;
    for (; k + kLanes <= count; k += kLanes) {
        F8 lo, hi;
        for (int j = 0; j < kLanes; ++j) lo[j] = range[k + j].min, hi[j] = range[k + j].max;
        F8 xmin = select(lo < zero, lo, zero), xmax = select(zero < hi, hi, zero);
        const I8 empty = (xmin == zero) & (xmax == zero);
        xmin = select(empty, -one, xmin);
        xmax = select(empty, one, xmax);
        F8 scale = (xmax - xmin) / maxq;
        const U8 magnitude = bits(scale) & 0x7fffffffu;
        scale = select(reinterpret_cast<const I8&>(magnitude) < inf, scale, xmax / maxq - xmin / maxq);
        const F8 z = roundNearest(-xmin / scale);
        for (int j = 0; j < kLanes; ++j) out[k + j] = {scale[j], z[j]};
    }
    for (; k < count; ++k) out[k] = intFit(f, range[k], tensor, o);
}

void amaxOverDivisorRuns(const float* amax, std::size_t count, float divisor, ScaleParams* out) {
    using namespace simd;
    const F8 vDivisor = splat(divisor), one = splat(1.0f), zero{};
    std::size_t k = 0;
    for (; k + kLanes <= count; k += kLanes) {
        const F8 a = load(amax + k);
        const F8 scale = select(a > zero, a / vDivisor, one);
        for (int j = 0; j < kLanes; ++j) out[k + j] = {scale[j], 0.0f};
    }
    for (; k < count; ++k) out[k] = {amax[k] > 0.0f ? amax[k] / divisor : 1.0f, 0.0f};
}

void intFitAmaxRuns(const FormatTraits& f, const float* amax, std::size_t count, const RangeStats& tensor,
                    const ElementOptions& o, ScaleParams* out) {
    if (!o.symmetric) {
        for (std::size_t k = 0; k < count; ++k) out[k] = intFit(f, {-amax[k], amax[k], amax[k]}, tensor, o);
        return;
    }
    const float qmax = static_cast<float>((1 << (f.elementBits - 1)) - 1) + (o.fullRange ? 0.5f : 0.0f);
    amaxOverDivisorRuns(amax, count, qmax, out);
}

namespace {

// The definition, one value at a time (the vector path's scalar twin). Division, not a reciprocal
// multiply, keeps it bit-exact with the reference. The final clamp only binds for ranges near
// FLT_MAX, where a rounded zero point could overflow.
float intOne(float x, float scale, float zero, float lo, float hi) {
    constexpr float big = std::numeric_limits<float>::max();
    float q = std::nearbyint(x / scale) + zero;
    q = std::min(std::max(q, lo), hi);
    return std::min(std::max(scale * (q - zero), -big), big);
}

} // namespace

void intGridRuns(const float* in, float* out, std::size_t n, std::size_t run, const ScaleParams* params, float lo,
                 float hi) {
    using namespace simd;
    const F8 vLo = splat(lo), vHi = splat(hi);
    forEachScaledRun(out, n, run, params, [&](std::size_t start, std::size_t end, const ScaleParams& p) {
        const float scale = p.scale, zero = p.zero;
        // intOne's operations lane-wise (std::max(a, b) is a < b ? b : a). Its final clamp can only
        // bind when scale * (q - zero) may overflow; the scalar twin handles those ranges.
        std::size_t i = start;
        const float reach = std::max(std::fabs(lo - zero), std::fabs(hi - zero));
        if (scale * reach <= std::numeric_limits<float>::max()) {
            const F8 vScale = splat(scale), vZero = splat(zero);
            for (; i + kLanes <= end; i += kLanes) {
                F8 q = roundNearest(load(in + i) / vScale) + vZero;
                q = select(q < vLo, vLo, q);
                q = select(vHi < q, vHi, q);
                store(out + i, vScale * (q - vZero));
            }
        }
        for (; i < end; ++i) out[i] = intOne(in[i], scale, zero, lo, hi);
    });
}

void intApplyRuns(const FormatTraits& f, const float* in, float* out, std::size_t n, std::size_t run,
                  const ScaleParams* params, const ElementOptions& o) {
    const int k = f.elementBits;
    const float half = static_cast<float>(1 << (k - 1));
    // Restricted symmetric grids use the codes -(2^(k-1)-1)..2^(k-1)-1 (finite inputs never reach
    // -2^(k-1), so infinities saturate onto the symmetric grid); full-range ones add -2^(k-1).
    const float hi = o.symmetric ? half - 1.0f : 2.0f * half - 1.0f;
    const float lo = o.symmetric ? (o.fullRange ? -half : -hi) : 0.0f;
    intGridRuns(in, out, n, run, params, lo, hi);
}

} // namespace qs::core
