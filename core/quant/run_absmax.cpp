// SPDX-License-Identifier: MIT
#include "quant/run_absmax.h"

#include "tensor/simd.h"

#include <algorithm>
#include <cmath>
#include <limits>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace qs::core {

// Magnitudes are compared as their bits: for non-negative floats the integer order is the float
// order, and inf/NaN (bits >= 0x7f800000) are dropped by one integer compare.
float finiteAbsMax(const float* x, std::size_t n) {
    using namespace simd;
    const I8 vInf = I8{} + 0x7f800000;
    F8 acc{};
    std::size_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        const U8 a = bits(load(x + i)) & 0x7fffffffu;
        const F8 w = fromBits(reinterpret_cast<const I8&>(a) < vInf ? a : U8{});
        acc = select(w > acc, w, acc);
    }
    float m = hmax(acc);
    for (; i < n; ++i)
        if (std::isfinite(x[i])) m = std::max(m, std::fabs(x[i]));
    return m;
}

RangeStats rangeOf(const float* x, std::size_t n) {
    using namespace simd;
    // Non-finite values are replaced by the first finite one, which never widens the range.
    std::size_t first = 0;
    while (first < n && !std::isfinite(x[first])) ++first;
    if (first == n) return {};
    const float seed = x[first];
    F8 lo = splat(seed), hi = lo;
    const F8 vSeed = lo, vBig = splat(std::numeric_limits<float>::max());
    std::size_t i = first;
    for (; i + kLanes <= n; i += kLanes) {
        const F8 v = load(x + i);
        const F8 a = fromBits(bits(v) & 0x7fffffffu);
        const F8 w = select(a <= vBig, v, vSeed); // false for inf and NaN
        lo = select(w < lo, w, lo);
        hi = select(w > hi, w, hi);
    }
    float l = hmin(lo), h = hmax(hi);
    for (; i < n; ++i)
        if (std::isfinite(x[i])) l = std::min(l, x[i]), h = std::max(h, x[i]);
    return {l, h, std::max(std::fabs(l), std::fabs(h))};
}

#if defined(__AVX2__)
namespace {

// Lane-wise maximum of the magnitudes of `count` vectors from p (kCount > 0: fixed, unrolled), NaN left
// out: max_ps(x, acc) returns acc where x is NaN. Infinities are kept (the caller redoes such runs).
template <std::size_t kCount>
inline __m256i magnitudeMaxSkippingNaN(const float* p, std::size_t count) {
    if constexpr (kCount > 0) count = kCount;
    const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 acc = _mm256_setzero_ps();
    for (std::size_t v = 0; v < count; ++v) acc = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(p + 8 * v), absMask), acc);
    return _mm256_castps_si256(acc);
}

// Lane k of the result is op's reduction (max or min, on epi32 or ps) over the lanes of m[k].
template <class Op>
inline __m256i transposeReduce(const __m256i m[8], Op op) {
    __m256i pair[4], quad[2];
    for (int j = 0; j < 4; ++j) // runs 2j, 2j+1 interleaved: (a b a b | a b a b)
        pair[j] = op(_mm256_unpacklo_epi32(m[2 * j], m[2 * j + 1]), _mm256_unpackhi_epi32(m[2 * j], m[2 * j + 1]));
    for (int j = 0; j < 2; ++j) // runs 4j..4j+3 per 128-bit half: (a b c d | a b c d)
        quad[j] = op(_mm256_unpacklo_epi64(pair[2 * j], pair[2 * j + 1]), _mm256_unpackhi_epi64(pair[2 * j], pair[2 * j + 1]));
    return op(_mm256_permute2x128_si256(quad[0], quad[1], 0x20), _mm256_permute2x128_si256(quad[0], quad[1], 0x31));
}

inline __m256i maxEpi32(__m256i a, __m256i b) { return _mm256_max_epi32(a, b); }
inline __m256i minPs(__m256i a, __m256i b) {
    return _mm256_castps_si256(_mm256_min_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b)));
}
inline __m256i maxPs(__m256i a, __m256i b) {
    return _mm256_castps_si256(_mm256_max_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b)));
}

// Lane-wise minimum and maximum of `count` vectors from p (kCount > 0: fixed, unrolled), NaN left out:
// min_ps(x, acc) returns acc where x is NaN. Infinities are kept (the caller redoes such runs), and a
// lane that saw only NaN stays +inf and -inf.
template <std::size_t kCount>
inline void minMaxSkippingNaN(const float* p, std::size_t count, __m256i& lo, __m256i& hi) {
    if constexpr (kCount > 0) count = kCount;
    const __m256 inf = _mm256_set1_ps(std::numeric_limits<float>::infinity());
    __m256 l = inf, h = -inf;
    for (std::size_t v = 0; v < count; ++v) {
        const __m256 x = _mm256_loadu_ps(p + 8 * v);
        l = _mm256_min_ps(x, l);
        h = _mm256_max_ps(x, h);
    }
    lo = _mm256_castps_si256(l);
    hi = _mm256_castps_si256(h);
}

// Eight runs at a time while eight whole runs are left; returns where it stopped.
template <std::size_t kRunVectors>
std::size_t eightRunsAtATime(const float* x, std::size_t n, std::size_t run, float*& out) {
    std::size_t start = 0;
    for (; start + 8 * run <= n; start += 8 * run, out += 8) {
        __m256i m[8];
        for (std::size_t k = 0; k < 8; ++k) m[k] = magnitudeMaxSkippingNaN<kRunVectors>(x + start + k * run, run / 8);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), transposeReduce(m, maxEpi32));
        for (std::size_t k = 0; k < 8; ++k)
            if (std::isinf(out[k])) out[k] = finiteAbsMax(x + start + k * run, run); // the run holds an infinity
    }
    return start;
}

// runRange's eight runs at a time while eight whole runs are left; returns where it stopped.
template <std::size_t kRunVectors>
std::size_t eightRangesAtATime(const float* x, std::size_t n, std::size_t run, RangeStats*& out) {
    std::size_t start = 0;
    for (; start + 8 * run <= n; start += 8 * run, out += 8) {
        __m256i lo[8], hi[8];
        for (std::size_t k = 0; k < 8; ++k) minMaxSkippingNaN<kRunVectors>(x + start + k * run, run / 8, lo[k], hi[k]);
        alignas(32) float l[8], h[8];
        _mm256_store_si256(reinterpret_cast<__m256i*>(l), transposeReduce(lo, minPs));
        _mm256_store_si256(reinterpret_cast<__m256i*>(h), transposeReduce(hi, maxPs));
        for (int k = 0; k < 8; ++k)
            out[k] = std::isfinite(l[k]) && std::isfinite(h[k])
                         ? RangeStats{l[k], h[k], std::max(std::fabs(l[k]), std::fabs(h[k]))}
                         : rangeOf(x + start + k * run, run); // an infinity, or only NaN
    }
    return start;
}

// eight.operator()<kRunVectors>() with the run's unroll (2 or 4 vectors for runs of 16 and 32, 0 for
// other multiples of 8: the run as it comes); where eight runs at a time do not apply, 0 (none done).
template <class Eight>
std::size_t eightAtATime(std::size_t run, const Eight& eight) {
    if (run == 16) return eight.template operator()<2>();
    if (run == 32) return eight.template operator()<4>();
    if (run % 8 == 0 && run > 0) return eight.template operator()<0>();
    return 0;
}

} // namespace
#endif

void runAbsMax(const float* x, std::size_t n, std::size_t run, float* out) {
    std::size_t start = 0;
#if defined(__AVX2__)
    start = eightAtATime(run, [&]<std::size_t kRunVectors>() { return eightRunsAtATime<kRunVectors>(x, n, run, out); });
#endif
    for (; start < n; start += run) *out++ = finiteAbsMax(x + start, std::min(run, n - start));
}

void runRange(const float* x, std::size_t n, std::size_t run, RangeStats* out) {
    std::size_t start = 0;
#if defined(__AVX2__)
    start = eightAtATime(run, [&]<std::size_t kRunVectors>() { return eightRangesAtATime<kRunVectors>(x, n, run, out); });
#endif
    for (; start < n; start += run) *out++ = rangeOf(x + start, std::min(run, n - start));
}

} // namespace qs::core
