// SPDX-License-Identifier: MIT
#pragma once
// Helpers the format kernels share beyond tensor/simd.h.
#include "formats/format_traits.h"
#include "tensor/simd.h"

#include <algorithm>
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

/// The loop of an ApplyRunsFn: body(start, end, params[k]) for each run k, [start, end) of n values in
/// runs of `run` (the last may be shorter), except that a run whose scale is 0 is written as zeros.
template <class Body>
void forEachScaledRun(float* out, std::size_t n, std::size_t run, const ScaleParams* params, const Body& body) {
    for (std::size_t start = 0; start < n; start += run, ++params) {
        const std::size_t end = std::min(n, start + run);
        if (params->scale == 0.0f)
            std::fill(out + start, out + end, 0.0f);
        else
            body(start, end, *params);
    }
}

} // namespace qs::core::simd
