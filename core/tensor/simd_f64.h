// SPDX-License-Identifier: MIT
#pragma once
// Four-lane float64 vectors (GCC/Clang vector extensions: AVX2 with -march=x86-64-v3) and an exp
// on them, for the float64 sums over a row: log-sum-exp and KL divergence over a vocabulary, the
// sum of squares of a norm. libm's scalar exp was a tenth of a small model's evaluation.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#if defined(__FMA__)
#include <immintrin.h>
#endif

namespace qs::core::simd {

using D4 = double __attribute__((vector_size(32)));
using L4 = std::int64_t __attribute__((vector_size(32)));
using F4 = float __attribute__((vector_size(16)));

inline D4 splatD(double x) { return D4{} + x; }

/// Four floats from p as float64 (exact).
inline D4 loadFloats(const float* p) {
    F4 v;
    std::memcpy(&v, p, sizeof v);
    return __builtin_convertvector(v, D4);
}

/// The first `count` floats from p (count in 0..4) as float64, `fill` in the other lanes.
inline D4 loadFloatsPartial(const float* p, std::int64_t count, double fill) {
    D4 v = splatD(fill);
    for (std::int64_t i = 0; i < count; ++i) v[i] = p[i];
    return v;
}

/// a * b + c with one rounding per lane.
inline D4 fma(D4 a, D4 b, D4 c) {
#if defined(__FMA__)
    return (D4)_mm256_fmadd_pd((__m256d)a, (__m256d)b, (__m256d)c);
#else
    D4 r;
    for (int i = 0; i < 4; ++i) r[i] = std::fma(a[i], b[i], c[i]);
    return r;
#endif
}

/// Lane sum in a fixed order: (v0 + v1) + (v2 + v3).
inline double sum(D4 v) { return (v[0] + v[1]) + (v[2] + v[3]); }

/// e^t per lane, within one ulp: t = n ln2 + r (|r| <= ln2 / 2, Cody-Waite with fused products),
/// e^r by its Taylor series to degree 13 (truncation below 1e-17), times 2^n. Lanes below -708 give
/// 0 (e^-708 is 3e-308, nothing beside a sum of at least 1), above 708 infinity; NaN stays NaN.
inline D4 exp(D4 t) {
    constexpr double kLimit = 708;
    const D4 clamped = t < -kLimit ? splatD(-kLimit) : (t > kLimit ? splatD(kLimit) : t);
    const D4 magic = splatD(0x1.8p52); // adding it rounds to an integer, held in the low bits
    const D4 shifted = fma(clamped, splatD(0x1.71547652b82fep0), magic); // t / ln 2 + magic
    const D4 n = shifted - magic;
    D4 r = fma(n, splatD(-0x1.62e42fefa39efp-1), clamped); // ln 2, high part
    r = fma(n, splatD(-0x1.abc9e3b39803fp-56), r);         // ln 2, low part
    constexpr double kInverseFactorials[] = {1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0,
                                             1.0 / 3628800.0,    1.0 / 362880.0,    1.0 / 40320.0,
                                             1.0 / 5040.0,       1.0 / 720.0,       1.0 / 120.0,
                                             1.0 / 24.0,         1.0 / 6.0,         0.5,
                                             1.0,                1.0};
    D4 p = splatD(kInverseFactorials[0]);
    for (std::size_t i = 1; i < std::size(kInverseFactorials); ++i) p = fma(p, r, splatD(kInverseFactorials[i]));
    const L4 exponent = ((L4)shifted - (L4)magic + 1023) << 52; // 2^n, n in -1022..1022
    const D4 e = p * (D4)exponent;
    return t < -kLimit ? splatD(0) : (t > kLimit ? splatD(std::numeric_limits<double>::infinity()) : e);
}

} // namespace qs::core::simd
