// SPDX-License-Identifier: MIT
#pragma once
#include "formats/format_traits.h"

namespace qs::core {

/// Scaled minifloat (FP8/FP6/FP4 with a per-tensor/channel/group scale): scale = amax / maxValue.
ScaleParams scaledFloatFit(const FormatTraits& f, const RangeStats& run, const RangeStats& tensor,
                           const ElementOptions& o);
/// scaledFloatFit of many runs from their amaxes (FitAmaxRunsFn).
void scaledFloatFitAmaxRuns(const FormatTraits& f, const float* amax, std::size_t count, const RangeStats& tensor,
                            const ElementOptions& o, ScaleParams* out);
/// x' = ExMy(x / scale) * scale, ties to even, saturating.
void scaledFloatApplyRuns(const FormatTraits& f, const float* in, float* out, std::size_t n, std::size_t run,
                          const ScaleParams* params, const ElementOptions& o);

/// OCP Microscaling v1.0: shared E8M0 scale X = 2^(floor(log2(amax)) - emax_elem), floor(log2) taken
/// exactly from the float32 exponent, clamped to [-127, 127]; amax == 0 gives an all-zero block.
/// MXINT8 elements are int8 with an implicit 2^-6, so its fitted scale is X * 2^-6.
ScaleParams mxFit(const FormatTraits& f, const RangeStats& run, const RangeStats& tensor, const ElementOptions& o);
/// mxFit of many blocks from their amaxes, eight at a time (zero and subnormal amaxes and scales one by one).
void mxFitAmaxRuns(const FormatTraits& f, const float* amax, std::size_t count, const RangeStats& tensor,
                   const ElementOptions& o, ScaleParams* out);
/// Elements of an MX block: ExMy(P) * X for float elements, clamp(rhe(x / s), -128, 127) * s for MXINT8.
void mxApplyRuns(const FormatTraits& f, const float* in, float* out, std::size_t n, std::size_t run,
                 const ScaleParams* params, const ElementOptions& o);

/// NVFP4 / NVINT4: per-tensor fp32 scale s_g = amax_tensor / (qmax * 448), per-block E4M3 scale
/// s_b = E4M3((amax_b / qmax) / s_g), effective scale s_b * s_g (qmax = 6 for E2M1, 7 for INT4).
ScaleParams nvFit(const FormatTraits& f, const RangeStats& run, const RangeStats& tensor, const ElementOptions& o);
/// nvFit of many blocks from their amaxes: the same float32 operations, in vectors.
void nvFitAmaxRuns(const FormatTraits& f, const float* amax, std::size_t count, const RangeStats& tensor,
                   const ElementOptions& o, ScaleParams* out);
/// Elements of an NV block: E2M1(x / se) * se, or clamp(rhe(x / se), -7, 7) * se.
void nvApplyRuns(const FormatTraits& f, const float* in, float* out, std::size_t n, std::size_t run,
                 const ScaleParams* params, const ElementOptions& o);

/// bf16 / fp16: a plain cast, round to nearest even, saturating at the largest finite value.
ScaleParams castFit(const FormatTraits& f, const RangeStats& run, const RangeStats& tensor, const ElementOptions& o);
void castApply(const FormatTraits& f, const float* in, float* out, std::size_t n, const ScaleParams& p,
               const ElementOptions& o);

} // namespace qs::core
