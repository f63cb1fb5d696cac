// SPDX-License-Identifier: MIT
#pragma once
// Largest finite magnitudes, and finite ranges, of runs of values: what min/max fits read.
#include "formats/format_traits.h"

#include <cstddef>

namespace qs::core {

/// Largest finite |x| of n values; 0 when there is none (inf and NaN are left out).
float finiteAbsMax(const float* x, std::size_t n);

/// finiteAbsMax of each run of `run` values (the last may be shorter) into out[k], bit for bit.
/// Eight runs at a time on AVX2: each run's lanes are reduced in a register, then the eight partial
/// maxima are transposed into one vector, where one run at a time would pay a horizontal reduction each.
void runAbsMax(const float* x, std::size_t n, std::size_t run, float* out);

/// Range of n values (min, max, absmax); non-finite values are left out (all 0 when none is finite).
RangeStats rangeOf(const float* x, std::size_t n);

/// rangeOf of each run of `run` values into out[k]: the finite minimum, maximum and
/// largest magnitude, all 0 where a run has no finite value. Equal as numbers (a zero's sign may
/// differ, which no fit reads). Eight runs at a time on AVX2, as runAbsMax.
void runRange(const float* x, std::size_t n, std::size_t run, RangeStats* out);

} // namespace qs::core
