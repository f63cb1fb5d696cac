// SPDX-License-Identifier: MIT
#pragma once
// Eight-lane float vectors with GCC/Clang vector extensions: the compiler emits AVX2 with
// -march=x86-64-v3 and SSE pairs otherwise. Used where auto-vectorisation fails (min/max
// reductions, bit tricks with selects); every kernel keeps a scalar twin that tests compare with.
#include <cstdint>
#include <cstring>
#if defined(__clang__) && defined(__AVX2__)
#include <immintrin.h>
#endif

namespace qs::core::simd {

using F8 = float __attribute__((vector_size(32)));
using U8 = std::uint32_t __attribute__((vector_size(32)));
using I8 = std::int32_t __attribute__((vector_size(32)));

inline constexpr int kLanes = 8;

/// Unaligned load / store.
inline F8 load(const float* p) {
    F8 v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline void store(float* p, F8 v) { std::memcpy(p, &v, sizeof v); }
/// All lanes = x.
inline F8 splat(float x) { return F8{} + x; }
inline U8 splatU(std::uint32_t x) { return U8{} + x; }
/// Bit reinterpretation.
inline U8 bits(F8 v) { return (U8)v; } // a cast between vectors of one size keeps the bits
inline F8 fromBits(U8 v) { return (F8)v; }
/// Lane-wise select: m ? a : b (m from a comparison).
inline F8 select(I8 m, F8 a, F8 b) { return m ? a : b; }
/// Round to nearest even for |x| < 2^22 (adding and removing 1.5 * 2^23 rounds in the FPU's default mode).
inline F8 roundSmall(F8 x) {
    const F8 magic = splat(12582912.0f);
    return (x + magic) - magic;
}
/// Lane permutations. GCC spells them __builtin_shuffle; clang has only __builtin_shufflevector
/// (constant lanes) and, for lanes known at run time, the AVX2 permute.
#if defined(__clang__)
#define QS_SIMD_SWAP(v, ...) __builtin_shufflevector(v, v, __VA_ARGS__)
#else
#define QS_SIMD_SWAP(v, ...) __builtin_shuffle(v, I8{__VA_ARGS__})
#endif
/// Horizontal min / max: three shuffle steps (halves, quarters, pairs) instead of seven scalar ones.
inline F8 swapHalves(F8 v) { return QS_SIMD_SWAP(v, 4, 5, 6, 7, 0, 1, 2, 3); }
inline F8 swapQuarters(F8 v) { return QS_SIMD_SWAP(v, 2, 3, 0, 1, 6, 7, 4, 5); }
inline F8 swapPairs(F8 v) { return QS_SIMD_SWAP(v, 1, 0, 3, 2, 5, 4, 7, 6); }
#undef QS_SIMD_SWAP
/// Lane k of the result is v[idx[k] % 8].
inline F8 permute(F8 v, I8 idx) {
#if !defined(__clang__)
    return __builtin_shuffle(v, idx);
#elif defined(__AVX2__)
    return (F8)_mm256_permutevar8x32_ps((__m256)v, (__m256i)idx);
#else
    F8 r;
    for (int k = 0; k < kLanes; ++k) r[k] = v[idx[k] & 7];
    return r;
#endif
}
inline float hmin(F8 v) {
    v = select(swapHalves(v) < v, swapHalves(v), v);
    v = select(swapQuarters(v) < v, swapQuarters(v), v);
    v = select(swapPairs(v) < v, swapPairs(v), v);
    return v[0];
}
inline float hmax(F8 v) {
    v = select(swapHalves(v) > v, swapHalves(v), v);
    v = select(swapQuarters(v) > v, swapQuarters(v), v);
    v = select(swapPairs(v) > v, swapPairs(v), v);
    return v[0];
}

} // namespace qs::core::simd
