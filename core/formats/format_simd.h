// SPDX-License-Identifier: MIT
#pragma once
// Vector helpers the format kernels need beyond tensor/simd.h.
#include "tensor/simd.h"

#include <cmath>
#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace qs::core::simd {

/// std::nearbyint lane-wise, for any input (NaN and infinities pass through).
inline F8 roundNearest(F8 x) {
#if defined(__AVX__)
    return (F8)_mm256_round_ps((__m256)x, _MM_FROUND_CUR_DIRECTION | _MM_FROUND_NO_EXC);
#else
    for (int k = 0; k < kLanes; ++k) x[k] = std::nearbyint(x[k]);
    return x;
#endif
}

} // namespace qs::core::simd
