// SPDX-License-Identifier: MIT
#include "formats/code_formats.h"

#include "formats/format_simd.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>

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

void absmaxFitRuns(const FormatTraits&, const float* amax, std::size_t count, const RangeStats&, const ElementOptions&,
                   ScaleParams* out) {
    for (std::size_t k = 0; k < count; ++k) out[k] = {amax[k] > 0.0f ? amax[k] : 0.0f, 0.0f};
}

namespace {

// apply() over runs with the kernel's set-up (its constant vectors) paid once per call, not once per
// run of 32: Kernel(f) holds the constants, kernel(x, scale) quantizes 8 values (where kernel.vectorised),
// kernel.scalar(x, scale) one.
template <class Kernel>
void scaledRuns(const FormatTraits& f, const float* in, float* out, std::size_t n, std::size_t run,
                const ScaleParams* params) {
    using namespace simd;
    const Kernel kernel(f);
    forEachScaledRun(out, n, run, params, [&](std::size_t start, std::size_t end, const ScaleParams& p) {
        const F8 vScale = splat(p.scale);
        std::size_t i = start;
        if (kernel.vectorised)
            for (; i + kLanes <= end; i += kLanes) store(out + i, kernel(load(in + i), vScale));
        for (; i < end; ++i) out[i] = kernel.scalar(in[i], p.scale);
    });
}

} // namespace

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

// Branch-free nearest code: the code index is the number of thresholds at or below t (what the
// binary search finds), counted in all lanes at once in two levels: the pivots kNf4Mid[3, 7, 11] give
// the quarter k, then the quarter's own thresholds kNf4Mid[4k .. 4k+2] (fetched by permutes) the rest;
// two 8-lane permutes then fetch the code.
struct Nf4Kernel {
    simd::F8 lowCodes = simd::load(kNf4.data()), highCodes = simd::load(kNf4.data() + simd::kLanes);
    simd::F8 pivot0 = simd::splat(kNf4Mid[3]), pivot1 = simd::splat(kNf4Mid[7]), pivot2 = simd::splat(kNf4Mid[11]);
    simd::F8 inQuarter[3] = {simd::load(kNf4Quarters[0].data()), simd::load(kNf4Quarters[1].data()),
                             simd::load(kNf4Quarters[2].data())};

    static constexpr bool vectorised = true;

    explicit Nf4Kernel(const FormatTraits&) {}
    simd::F8 operator()(simd::F8 x, simd::F8 vScale) const {
        using namespace simd;
        const F8 t = x / vScale;
        const I8 quarter = -((t >= pivot0) + (t >= pivot1) + (t >= pivot2)); // a true comparison is -1
        const I8 idx = (quarter << 2) - ((t >= permute(inQuarter[0], quarter)) + (t >= permute(inQuarter[1], quarter)) +
                                         (t >= permute(inQuarter[2], quarter)));
        const F8 code = select(idx < kLanes, permute(lowCodes, idx), permute(highCodes, idx));
        return select(t == t, code * vScale, t); // NaN stays NaN
    }
    float scalar(float x, float scale) const { return nf4One(x, scale); }
};

} // namespace

void nf4ApplyRuns(const FormatTraits& f, const float* in, float* out, std::size_t n, std::size_t run,
                  const ScaleParams* params, const ElementOptions&) {
    scaledRuns<Nf4Kernel>(f, in, out, n, run, params);
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

// log2One lane-wise.
struct Log2Kernel {
    int deepest; // magnitudes scale * 2^-j, j = 0..deepest
    simd::F8 one = simd::splat(1.0f), smallest = simd::splat(kSmallestNormal), lift = simd::splat(kDenormalLift);
    simd::U8 sign = simd::splatU(0x80000000u);
    static constexpr bool vectorised = true;

    explicit Log2Kernel(const FormatTraits& f) : deepest((1 << (f.elementBits - 1)) - 2) {}
    simd::F8 operator()(simd::F8 x, simd::F8 vScale) const {
        using namespace simd;
        F8 t = fromBits(bits(x) & ~sign) / vScale;
        t = select(t < one, t, one);
        const I8 tiny = t < smallest;
        const I8 j = (127 + (tiny & kDenormalShift)) - (I8)((bits(select(tiny, t * lift, t)) + kLog2Carry) >> 23);
        const F8 mag = select(j > deepest, F8{}, fromBits((U8)(127 - j) << 23) * vScale);
        return select(x == x, fromBits(bits(mag) | (bits(x) & sign)), x); // NaN stays NaN
    }
    float scalar(float x, float scale) const { return log2One(x, scale, deepest); }
};

} // namespace

void log2ApplyRuns(const FormatTraits& f, const float* in, float* out, std::size_t n, std::size_t run,
                   const ScaleParams* params, const ElementOptions&) {
    scaledRuns<Log2Kernel>(f, in, out, n, run, params);
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

// sulqOne lane-wise where the levels fit one permute table (k <= 4): q counts the bounds above y, the
// unused ones -inf (never above).
struct SulqKernel {
    static constexpr std::size_t kMaxBounds = simd::kLanes - 1;
    const SulqGrid& grid;
    bool vectorised;
    simd::F8 one = simd::splat(1.0f), shift = simd::splat(kSulqShift);
    simd::U8 sign = simd::splatU(0x80000000u);
    std::array<simd::F8, kMaxBounds> bounds;
    simd::F8 levels; // a copy: a store to out could alias the grid's, which would reload them every vector

    explicit SulqKernel(const FormatTraits& f)
        : grid(sulqGrid(f.elementBits)), vectorised(grid.levels.size() <= static_cast<std::size_t>(simd::kLanes)),
          levels(grid.levelTable) {
        bounds.fill(simd::splat(-std::numeric_limits<float>::infinity()));
        for (std::size_t q = 0; vectorised && q < grid.bounds.size(); ++q) bounds[q] = simd::splat(grid.bounds[q]);
    }
    simd::F8 operator()(simd::F8 x, simd::F8 vScale) const {
        using namespace simd;
        const F8 t = fromBits(bits(x) & ~sign) / vScale;
        const F8 y = select(t < one, t, one) + shift;
        I8 q{};
        for (const F8& b : bounds) q -= y < b; // a true comparison is -1
        const F8 mag = permute(levels, q) * vScale;
        return select(x == x, fromBits(bits(mag) | (bits(x) & sign)), x); // NaN stays NaN
    }
    float scalar(float x, float scale) const { return sulqOne(x, scale, grid); }
};

} // namespace

std::vector<float> sulqLevels(int bits) {
    const int top = (1 << (bits - 1)) - 1;
    const float step = -std::log2(kSulqShift) / static_cast<float>(top);
    std::vector<float> v;
    for (int q = 0; q <= top; ++q) v.push_back(std::max(std::exp2(-static_cast<float>(q) * step) - kSulqShift, 0.0f));
    v.back() = 0.0f;
    return v;
}

void sulqApplyRuns(const FormatTraits& f, const float* in, float* out, std::size_t n, std::size_t run,
                   const ScaleParams* params, const ElementOptions&) {
    scaledRuns<SulqKernel>(f, in, out, n, run, params);
}

} // namespace qs::core
