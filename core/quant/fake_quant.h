// SPDX-License-Identifier: MIT
#pragma once
#include "quant/quant_spec.h"
#include "quant/run_absmax.h" // rangeOf

#include <cstdint>

namespace qs::core {

/// Quantize-dequantizes a row-major matrix [rows, cols] (rows = output channels, or tokens for
/// activations) with `spec`; out may alias in. Rows run in parallel (OpenMP); the result does not
/// depend on the thread count. NaN inputs stay NaN; ±inf saturate; finite input never gives NaN.
/// With `inside` (rows * cols bytes), each element is marked 1 when it lies within its run's
/// saturation bounds and 0 when the grid clips it (or it is NaN): the straight-through mask.
void fakeQuantize(const float* in, std::int64_t rows, std::int64_t cols, const QuantSpec& spec, float* out,
                  std::uint8_t* inside = nullptr);

/// The range of a run's grid that rounds rather than clips: the values it saturates to (what it makes
/// of -inf and +inf) widened by half the grid's step at each end, since an element that far beyond
/// an extreme value still has it as its nearest value. A min/max fit never clips; beyond the range
/// the grid clipped the element (straight-through estimators and LSQ cut its gradient there).
struct SaturationBounds {
    float lo = 0.0f, hi = 0.0f;
    bool contains(float x) const { return x >= lo && x <= hi; }
};
SaturationBounds saturationBounds(const FormatTraits& f, const QuantSpec& spec, const ScaleParams& p);

/// The scale parameters the spec's rule picks for one run (min/max, percentile or MSE search).
/// `tensor` is the whole tensor's range (two-level formats); `scratch` holds n floats.
ScaleParams fitRun(const FormatTraits& f, const QuantSpec& spec, const float* x, std::size_t n,
                   const RangeStats& tensor, float* scratch);

} // namespace qs::core
