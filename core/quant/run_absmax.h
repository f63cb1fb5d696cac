// SPDX-License-Identifier: MIT
#pragma once
// Largest finite magnitudes of runs of values: what every symmetric min/max fit reads.
#include <cstddef>

namespace qs::core {

/// Largest finite |x| of n values; 0 when there is none (inf and NaN are left out).
float finiteAbsMax(const float* x, std::size_t n);

/// finiteAbsMax of each run of `run` values (the last may be shorter) into out[k], bit for bit.
/// Eight runs at a time on AVX2: each run's lanes are reduced in a register, then the eight partial
/// maxima are transposed into one vector, where one run at a time would pay a horizontal reduction each.
void runAbsMax(const float* x, std::size_t n, std::size_t run, float* out);

} // namespace qs::core
