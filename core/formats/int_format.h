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
/// intFit of many runs from their amaxes (FitAmaxRunsFn); asymmetric options fall back to intFit.
void intFitAmaxRuns(const FormatTraits& f, const float* amax, std::size_t count, const RangeStats& tensor,
                    const ElementOptions& o, ScaleParams* out);
/// intFit of many runs from their ranges (FitRangeRunsFn), eight asymmetric fits at a time.
void intFitRangeRuns(const FormatTraits& f, const RangeStats* range, std::size_t count, const RangeStats& tensor,
                     const ElementOptions& o, ScaleParams* out);
/// out[k] = {amax[k] / divisor, 0} where amax[k] > 0, else {1, 0}: the symmetric fit of INT grids and of
/// scaled minifloats, eight runs at a time.
void amaxOverDivisorRuns(const float* amax, std::size_t count, float divisor, ScaleParams* out);
/// Applies the INT-k grid of `f` to runs of values (ApplyRunsFn).
void intApplyRuns(const FormatTraits& f, const float* in, float* out, std::size_t n, std::size_t run,
                  const ScaleParams* params, const ElementOptions& o);
/// The INT grid with an explicit code range [lo, hi] over runs of `run` values, run k with params[k]
/// (shared by INT-k, MXINT8 and NVINT4); a zero scale gives zeros.
void intGridRuns(const float* in, float* out, std::size_t n, std::size_t run, const ScaleParams* params, float lo,
                 float hi);

} // namespace qs::core
