// SPDX-License-Identifier: MIT
#include "quant/run_absmax.h"

#include "tensor/simd.h"

#include <algorithm>
#include <cmath>
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

#if defined(__AVX2__)
namespace {

// Lane-wise maximum of the finite magnitudes' bits of `count` vectors from p (kCount > 0: fixed, unrolled).
template <std::size_t kCount>
inline __m256i finiteMagnitudeMax(const float* p, std::size_t count) {
    if constexpr (kCount > 0) count = kCount;
    const __m256i absMask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    __m256i acc = _mm256_setzero_si256();
    for (std::size_t v = 0; v < count; ++v) {
        const __m256i a = _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 8 * v)), absMask);
        acc = _mm256_max_epi32(acc, _mm256_and_si256(a, _mm256_cmpgt_epi32(inf, a)));
    }
    return acc;
}

// Lane k of the result is the maximum over the lanes of m[k].
inline __m256i transposeMax(const __m256i m[8]) {
    __m256i pair[4], quad[2];
    for (int j = 0; j < 4; ++j) // runs 2j, 2j+1 interleaved: (a b a b | a b a b)
        pair[j] = _mm256_max_epi32(_mm256_unpacklo_epi32(m[2 * j], m[2 * j + 1]), _mm256_unpackhi_epi32(m[2 * j], m[2 * j + 1]));
    for (int j = 0; j < 2; ++j) // runs 4j..4j+3 per 128-bit half: (a b c d | a b c d)
        quad[j] = _mm256_max_epi32(_mm256_unpacklo_epi64(pair[2 * j], pair[2 * j + 1]),
                                   _mm256_unpackhi_epi64(pair[2 * j], pair[2 * j + 1]));
    return _mm256_max_epi32(_mm256_permute2x128_si256(quad[0], quad[1], 0x20),
                            _mm256_permute2x128_si256(quad[0], quad[1], 0x31));
}

// Eight runs at a time while eight whole runs are left; returns where it stopped.
template <std::size_t kRunVectors>
std::size_t eightRunsAtATime(const float* x, std::size_t n, std::size_t run, float*& out) {
    std::size_t start = 0;
    for (; start + 8 * run <= n; start += 8 * run, out += 8) {
        __m256i m[8];
        for (std::size_t k = 0; k < 8; ++k) m[k] = finiteMagnitudeMax<kRunVectors>(x + start + k * run, run / 8);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), transposeMax(m));
    }
    return start;
}

} // namespace
#endif

void runAbsMax(const float* x, std::size_t n, std::size_t run, float* out) {
    std::size_t start = 0;
#if defined(__AVX2__)
    if (run == 16)
        start = eightRunsAtATime<2>(x, n, run, out);
    else if (run == 32)
        start = eightRunsAtATime<4>(x, n, run, out);
    else if (run % 8 == 0 && run > 0)
        start = eightRunsAtATime<0>(x, n, run, out);
#endif
    for (; start < n; start += run) *out++ = finiteAbsMax(x + start, std::min(run, n - start));
}

} // namespace qs::core
