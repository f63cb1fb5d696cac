// SPDX-License-Identifier: MIT
#pragma once
#include "quant/quant_spec.h"

#include <cstdint>

namespace qs::core {

/// Range of n values (min, max, absmax); non-finite values are left out.
RangeStats rangeOf(const float* x, std::size_t n);

/// Quantize-dequantizes a row-major matrix [rows, cols] (rows = output channels, or tokens for
/// activations) with `spec`; out may alias in. Rows run in parallel (OpenMP); the result does not
/// depend on the thread count. NaN inputs stay NaN; ±inf saturate; finite input never gives NaN.
void fakeQuantize(const float* in, std::int64_t rows, std::int64_t cols, const QuantSpec& spec, float* out);

/// The scale parameters the spec's rule picks for one run (min/max, percentile or MSE search).
/// `tensor` is the whole tensor's range (two-level formats); `scratch` holds n floats.
ScaleParams fitRun(const FormatTraits& f, const QuantSpec& spec, const float* x, std::size_t n,
                   const RangeStats& tensor, float* scratch);

} // namespace qs::core
