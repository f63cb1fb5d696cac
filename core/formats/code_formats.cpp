// SPDX-License-Identifier: MIT
#include "formats/code_formats.h"

#include "tensor/simd.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace qs::core {
namespace {

constexpr std::array<float, 16> kNf4{-1.0f,
                                     -0.6961928009986877f,
                                     -0.5250730514526367f,
                                     -0.39491748809814453f,
                                     -0.28444138169288635f,
                                     -0.18477343022823334f,
                                     -0.09105003625154495f,
                                     0.0f,
                                     0.07958029955625534f,
                                     0.16093020141124725f,
                                     0.24611230194568634f,
                                     0.33791524171829224f,
                                     0.44070982933044434f,
                                     0.5626170039176941f,
                                     0.7229568362236023f,
                                     1.0f};

constexpr float kSulqShift = 1.0f / 256.0f;

} // namespace

std::span<const float> nf4Codebook() { return kNf4; }

ScaleParams absmaxFit(const FormatTraits&, const RangeStats& run, const RangeStats&, const ElementOptions&) {
    return {run.amax > 0.0f ? run.amax : 0.0f, 0.0f};
}

namespace {

// Decision thresholds: the midpoints between neighbouring codes; a tie goes to the upper code.
constexpr std::array<float, 15> kNf4Mid = [] {
    std::array<float, 15> m{};
    for (std::size_t i = 0; i < m.size(); ++i) m[i] = 0.5f * (kNf4[i] + kNf4[i + 1]);
    return m;
}();

// One value (the vector path's scalar twin): binary search over the thresholds.
float nf4One(float x, float scale) {
    const float t = x / scale;
    if (std::isnan(t)) return t;
    return kNf4[static_cast<std::size_t>(std::upper_bound(kNf4Mid.begin(), kNf4Mid.end(), t) - kNf4Mid.begin())] * scale;
}

} // namespace

void nf4Apply(const FormatTraits&, const float* in, float* out, std::size_t n, const ScaleParams& p,
              const ElementOptions&) {
    using namespace simd;
    if (p.scale == 0.0f) return std::fill(out, out + n, 0.0f);
    // Branch-free nearest code: the code index is the number of thresholds at or below t (what the
    // binary search finds), counted in all lanes at once; two 8-lane permutes then fetch the code.
    const F8 lowCodes = load(kNf4.data()), highCodes = load(kNf4.data() + kLanes), vScale = splat(p.scale);
    std::size_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        const F8 t = load(in + i) / vScale;
        I8 idx{};
        for (float m : kNf4Mid) idx -= t >= m; // a true comparison is -1
        const F8 code = select(idx < kLanes, permute(lowCodes, idx), permute(highCodes, idx));
        store(out + i, select(t == t, code * vScale, t)); // NaN stays NaN
    }
    for (; i < n; ++i) out[i] = nf4One(in[i], p.scale);
}

void log2Apply(const FormatTraits& f, const float* in, float* out, std::size_t n, const ScaleParams& p,
               const ElementOptions&) {
    if (p.scale == 0.0f) return std::fill(out, out + n, 0.0f);
    const float deepest = static_cast<float>((1 << (f.elementBits - 1)) - 2); // j = 0..deepest
    for (std::size_t i = 0; i < n; ++i) {
        const float t = std::fabs(in[i]) / p.scale;
        if (std::isnan(t)) {
            out[i] = in[i];
            continue;
        }
        // Below half-way (in the log domain) past the deepest level the value becomes zero.
        const float j = std::nearbyint(-std::log2(std::min(t, 1.0f)));
        const float mag = j > deepest + 0.5f ? 0.0f : std::exp2(-std::max(j, 0.0f)) * p.scale;
        out[i] = std::copysign(mag, in[i]);
    }
}

std::vector<float> sulqLevels(int bits) {
    const int top = (1 << (bits - 1)) - 1;
    const float step = -std::log2(kSulqShift) / static_cast<float>(top);
    std::vector<float> v;
    for (int q = 0; q <= top; ++q) v.push_back(std::max(std::exp2(-static_cast<float>(q) * step) - kSulqShift, 0.0f));
    v.back() = 0.0f;
    return v;
}

void sulqApply(const FormatTraits& f, const float* in, float* out, std::size_t n, const ScaleParams& p,
               const ElementOptions&) {
    if (p.scale == 0.0f) return std::fill(out, out + n, 0.0f);
    const int top = (1 << (f.elementBits - 1)) - 1;
    const auto levels = sulqLevels(f.elementBits);
    const float step = -std::log2(kSulqShift) / static_cast<float>(top);
    for (std::size_t i = 0; i < n; ++i) {
        const float t = std::min(std::fabs(in[i]) / p.scale, 1.0f);
        if (std::isnan(t)) {
            out[i] = in[i];
            continue;
        }
        const float q = std::clamp(std::nearbyint(-std::log2(t + kSulqShift) / step), 0.0f, static_cast<float>(top));
        out[i] = std::copysign(levels[static_cast<std::size_t>(q)] * p.scale, in[i]);
    }
}

} // namespace qs::core
