// SPDX-License-Identifier: MIT
#include "formats/code_formats.h"

#include "tensor/simd.h"

#include <algorithm>
#include <array>
#include <bit>
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

// kNf4Quarters[j][k] = kNf4Mid[4k + j]: quarter k's thresholds as permute tables (lanes 4..7 unused).
constexpr std::array<std::array<float, 8>, 3> kNf4Quarters = [] {
    std::array<std::array<float, 8>, 3> q{};
    for (std::size_t k = 0; k < 4; ++k)
        for (std::size_t j = 0; j < 3; ++j) q[j][k] = kNf4Mid[4 * k + j];
    return q;
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
    // binary search finds), counted in all lanes at once in two levels: the pivots kNf4Mid[3, 7, 11]
    // give the quarter k, then the quarter's own thresholds kNf4Mid[4k .. 4k+2] (fetched by permutes)
    // the rest; two 8-lane permutes then fetch the code.
    const F8 lowCodes = load(kNf4.data()), highCodes = load(kNf4.data() + kLanes), vScale = splat(p.scale);
    const F8 pivot0 = splat(kNf4Mid[3]), pivot1 = splat(kNf4Mid[7]), pivot2 = splat(kNf4Mid[11]);
    const F8 inQuarter[3] = {load(kNf4Quarters[0].data()), load(kNf4Quarters[1].data()), load(kNf4Quarters[2].data())};
    std::size_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        const F8 t = load(in + i) / vScale;
        const I8 quarter = -((t >= pivot0) + (t >= pivot1) + (t >= pivot2)); // a true comparison is -1
        const I8 idx = (quarter << 2) - ((t >= permute(inQuarter[0], quarter)) + (t >= permute(inQuarter[1], quarter)) +
                                         (t >= permute(inQuarter[2], quarter)));
        const F8 code = select(idx < kLanes, permute(lowCodes, idx), permute(highCodes, idx));
        store(out + i, select(t == t, code * vScale, t)); // NaN stays NaN
    }
    for (; i < n; ++i) out[i] = nf4One(in[i], p.scale);
}

namespace {

// Exact nearest level in the log domain, decided on the float's bits rather than by a libm log2 (whose
// last-bit rounding moves values near the half-way points and differs between libm versions).
//
// log2: t = m 2^e with m in [1, 2) rounds to 2^e, or to 2^(e+1) when log2 m > 1/2, i.e. m > sqrt(2).
// Adding kLog2Carry to the bits carries every mantissa at or above 0x3504F4 (the first float above
// sqrt(2): 0x3FB504F3 = 1.41421354 lies below it) into the exponent field, which then holds the
// rounded exponent; no float is exactly sqrt(2), so there are no ties.
constexpr std::uint32_t kLog2Carry = 0x800000u - 0x3504F4u;
constexpr float kSmallestNormal = 0x1p-126f, kDenormalLift = 0x1p64f;
constexpr int kDenormalShift = 64;

// j = round(-log2 t) for t in [0, 1] (large for 0); denormals are lifted by 2^64 first, exactly.
int log2Level(float t) {
    const bool tiny = t < kSmallestNormal;
    const std::uint32_t b = std::bit_cast<std::uint32_t>(tiny ? t * kDenormalLift : t);
    return 127 + (tiny ? kDenormalShift : 0) - static_cast<int>((b + kLog2Carry) >> 23);
}

float log2One(float x, float scale, int deepest) {
    const float t = std::min(std::fabs(x) / scale, 1.0f);
    if (std::isnan(t)) return x;
    const int j = log2Level(t);
    const float mag = j > deepest ? 0.0f : std::bit_cast<float>(static_cast<std::uint32_t>(127 - j) << 23) * scale;
    return std::copysign(mag, x);
}

} // namespace

void log2Apply(const FormatTraits& f, const float* in, float* out, std::size_t n, const ScaleParams& p,
               const ElementOptions&) {
    using namespace simd;
    if (p.scale == 0.0f) return std::fill(out, out + n, 0.0f);
    const int deepest = (1 << (f.elementBits - 1)) - 2; // magnitudes scale * 2^-j, j = 0..deepest
    const F8 vScale = splat(p.scale), one = splat(1.0f), smallest = splat(kSmallestNormal), lift = splat(kDenormalLift);
    const U8 sign = splatU(0x80000000u);
    std::size_t i = 0;
    for (; i + kLanes <= n; i += kLanes) { // log2One lane-wise
        const F8 x = load(in + i);
        F8 t = fromBits(bits(x) & ~sign) / vScale;
        t = select(t < one, t, one);
        const I8 tiny = t < smallest;
        const I8 j = (127 + (tiny & kDenormalShift)) - (I8)((bits(select(tiny, t * lift, t)) + kLog2Carry) >> 23);
        const F8 mag = select(j > deepest, F8{}, fromBits((U8)(127 - j) << 23) * vScale);
        store(out + i, select(x == x, fromBits(bits(mag) | (bits(x) & sign)), x)); // NaN stays NaN
    }
    for (; i < n; ++i) out[i] = log2One(in[i], p.scale, deepest);
}

namespace {

// SULQ's levels and decision bounds for k bits. q = rhe(-log2(y) / s) with y = t + eta (in float) is
// the number of bounds above y: bound q is the smallest float y whose level is at most q, found from
// the exact half-way point 2^(-(q + 1/2) s) in double (a half-way point that is a float is a tie, which
// goes to the even level).
struct SulqGrid {
    std::vector<float> levels, bounds;
    simd::F8 levelTable{}; // the levels as a permute table, where they fit in one vector
};

SulqGrid makeSulqGrid(int bits) {
    SulqGrid g{sulqLevels(bits), {}};
    const int top = (1 << (bits - 1)) - 1;
    const double step = -std::log2(static_cast<double>(kSulqShift)) / top;
    for (int q = 0; q < top; ++q) {
        const double half = std::exp2(-(q + 0.5) * step);
        float b = static_cast<float>(half);
        if (static_cast<double>(b) < half || (static_cast<double>(b) == half && q % 2 == 1))
            b = std::nextafter(b, 2.0f);
        g.bounds.push_back(b);
    }
    for (std::size_t q = 0; q < g.levels.size() && q < static_cast<std::size_t>(simd::kLanes); ++q) g.levelTable[q] = g.levels[q];
    return g;
}

const SulqGrid& sulqGrid(int bits) {
    static const std::array<SulqGrid, 9> grids = [] {
        std::array<SulqGrid, 9> a;
        for (int k = 2; k <= 8; ++k) a[static_cast<std::size_t>(k)] = makeSulqGrid(k);
        return a;
    }();
    return grids.at(static_cast<std::size_t>(std::clamp(bits, 2, 8)));
}

float sulqOne(float x, float scale, const SulqGrid& g) {
    const float t = std::min(std::fabs(x) / scale, 1.0f);
    if (std::isnan(t)) return x;
    const float y = t + kSulqShift;
    std::size_t q = 0;
    for (float b : g.bounds) q += y < b;
    return std::copysign(g.levels[q] * scale, x);
}

} // namespace

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
    using namespace simd;
    if (p.scale == 0.0f) return std::fill(out, out + n, 0.0f);
    const SulqGrid& g = sulqGrid(f.elementBits);
    std::size_t i = 0;
    if (g.levels.size() <= static_cast<std::size_t>(kLanes)) { // sulqOne lane-wise, the level fetched by a permute
        const F8 vScale = splat(p.scale), one = splat(1.0f), shift = splat(kSulqShift);
        const U8 sign = splatU(0x80000000u);
        for (; i + kLanes <= n; i += kLanes) {
            const F8 x = load(in + i);
            F8 t = fromBits(bits(x) & ~sign) / vScale;
            const F8 y = select(t < one, t, one) + shift;
            I8 q{};
            for (float b : g.bounds) q -= y < b; // a true comparison is -1
            const F8 mag = permute(g.levelTable, q) * vScale;
            store(out + i, select(x == x, fromBits(bits(mag) | (bits(x) & sign)), x)); // NaN stays NaN
        }
    }
    for (; i < n; ++i) out[i] = sulqOne(in[i], p.scale, g);
}

} // namespace qs::core
