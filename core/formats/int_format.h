// SPDX-License-Identifier: MIT
#pragma once
#include "formats/format_traits.h"

namespace qs::core {

/// INT-k with min/max scales, as defined in shared/fixtures/README.md section 2.5:
/// symmetric: scale = amax / (2^(k-1)-1) (1 when amax == 0), q = clamp(rhe(x/scale), -(2^(k-1)-1), 2^(k-1)-1)
/// (the fixture's clamp at -2^(k-1) never binds for finite input; full range: scale = amax/(2^(k-1)-0.5));
/// asymmetric: range widened to include 0, scale = (max-min)/(2^k-1), zero = rhe(-min/scale),
/// q = clamp(rhe(x/scale) + zero, 0, 2^k-1). rhe = round half to even. x' = scale * (q - zero).
ScaleParams intFit(const FormatTraits& f, const RangeStats& run, const RangeStats& tensor, const ElementOptions& o);
/// Applies the INT-k grid of `f` to n values.
void intApply(const FormatTraits& f, const float* in, float* out, std::size_t n, const ScaleParams& p,
              const ElementOptions& o);
/// The INT-k grid with an explicit code range [lo, hi] (shared by MXINT8 and NVINT4).
void intApplyRange(const float* in, float* out, std::size_t n, float scale, float zero, float lo, float hi);

} // namespace qs::core
