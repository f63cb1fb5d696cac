// SPDX-License-Identifier: MIT
#pragma once
// Learned step sizes (LSQ, Esser et al., ICLR 2020) for quantization-aware training: a weight's
// scales become parameters, one per run of the spec (row × group, row, or the whole tensor), fitted
// once by the spec's rule and then trained with the weights. Zero points stay those of the fit, so a
// learned weight is stored exactly like an RTN one (codes, one scale and zero per run).
#include "quant/quant_spec.h"

#include <cstdint>
#include <string>
#include <vector>

namespace qs::core {

/// Every run's scale parameters of one [rows, cols] weight (its [out, in] layout).
struct RunScales {
    QuantSpec spec;
    std::int64_t rows = 0, cols = 0;
    std::int64_t run = 0;         ///< elements per run along a row (spec.runLength(cols))
    std::int64_t runsPerRow = 0;  ///< ceil(cols / run); 1 with one scale for the whole tensor
    bool perTensor = false;       ///< one ScaleParams for every run
    std::vector<ScaleParams> params; ///< [rows, runsPerRow] row-major, or one when perTensor

    /// Index into params of the run holding (row, first column of the run / run).
    std::size_t index(std::int64_t row, std::int64_t runInRow) const {
        return perTensor ? 0 : static_cast<std::size_t>(row * runsPerRow + runInRow);
    }
};

/// Throws Error naming `weight` when the spec's scales are not free real numbers that can be learned:
/// MX (power-of-two E8M0 scales), NV (E4M3 scales under a tensor scale) and casts (no scale).
void requireLearnableScales(const QuantSpec& spec, const std::string& weight);

/// The scales fakeQuantize would fit to w [rows, cols] (the spec's rule: min/max, percentile, MSE).
RunScales fitScales(const float* w, std::int64_t rows, std::int64_t cols, const QuantSpec& spec);

/// fakeQuantize of w with the given scales: with s = fitScales(w, ...), the same bits as fakeQuantize.
/// out may alias w. Rows in parallel; thread-count invariant.
void applyScales(const float* w, const RunScales& s, float* out);

/// LSQ's straight-through gradients of a loss L through q = applyScales(w, s), given dL/dq:
///  - dL/dw = dL/dq where the element lies inside its run's range (SaturationBounds: the values the
///    grid saturates to, widened by half its last step), 0 where it is clipped;
///  - dL/d log(scale) = Σ over the run of dL/dq · s·∂q/∂s, with s·∂q/∂s = q − w inside the range and q
///    outside (LSQ's round(w/s) − w/s and its clip levels, times s; a zero point is held fixed).
/// gradW may alias gradQ. gradLogScale gets one entry per params entry (summed in a fixed order).
void scaleGradients(const float* w, const float* q, const float* gradQ, const RunScales& s, float* gradW,
                    std::vector<double>& gradLogScale);

} // namespace qs::core
