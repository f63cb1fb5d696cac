// SPDX-License-Identifier: MIT
// Integer codes from quantized values: what a multiplier of a value-dependent accelerator is fed.
// Quantizers return dequantized float32 values; the codes are recovered from them per run of values
// sharing a scale, so every method (RTN, GPTQ, AWQ, ...) is priced on what it actually produced.
#pragma once
#include "cost/cost_layer.h"
#include "quant/quant_spec.h"

#include <cstdint>

namespace qs::core {

/// Codes of a row-major [rows, cols] matrix quantized with `spec` (runs of spec.runLength(cols)
/// values along a row share a scale). Integer formats: the coarsest integer lattice holding the run
/// (codes q with max |q| = c for the smallest such c; asymmetric: unsigned codes from the run's
/// minimum), so a run whose largest code is unused (GPTQ) or whose width is lower (dynbits) gets
/// its true codes. Float and code-book grids: the finest scale putting every value on the format's
/// grid, then the value's fixed-point equivalent (value / the grid's smallest step: E2M1 -> 0..12).
/// A run on no grid of the format (e.g. vector quantization) falls back to rounding to the grid at
/// the run's absmax, counted in `offGridRuns`. Cast formats (bf16/fp16) use linearCodes at 16 bits.
OperandCodes gridCodes(const float* values, std::int64_t rows, std::int64_t cols, const QuantSpec& spec,
                       std::int64_t* offGridRuns = nullptr);

/// DNNsim's codes of an unquantized tensor at `bits` (spec §0): one scale for the whole tensor,
/// unsigned full range when its minimum is >= 0, symmetric signed otherwise; NaN reads as 0.
OperandCodes linearCodes(const float* values, std::size_t n, int bits);

/// Bits of the fixed-point equivalent of a format's grid, sign included when it has negative values
/// (int4 -> 4, fp4_e2m1 -> 5, fp8_e4m3 -> 19, mxint8 -> 8; cast formats -> 16).
int fixedPointBits(const FormatTraits& f, bool symmetric);

} // namespace qs::core
