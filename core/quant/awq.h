// SPDX-License-Identifier: MIT
#pragma once
#include "quant/quantizer.h"

#include <vector>

namespace qs::core {

/// AWQ (Lin et al.): per-input-channel scales s = absMean^alpha (normalised), W' = Q(W diag(s)) diag(s)^-1.
/// Alpha is grid-searched on the layer output error tr(E XtX E^T); then, per run of columns that shares a
/// scale, the range is shrunk by ratios 1, 0.95, ..., 0.55 and the best kept (exact row error, coordinate
/// descent over runs). At deployment s folds into the previous op; in fake quantization W' is equivalent.
struct AwqOptions {
    int grid = 20;      ///< alpha candidates i / (grid - 1), i = 0..grid-1 (grid 1: alpha = 0 only)
    double alpha = -1;  ///< fixed alpha in [0, 1]; negative = grid search
    bool clip = true;   ///< clipping search after the scale search
};

/// What the search found (for tests and reports).
struct AwqResult {
    double alpha = 0;
    double objectiveBeforeClip = 0;   ///< tr(E XtX E^T) at the chosen alpha, min/max ranges
    double objective = 0;             ///< after the clipping search
    std::vector<double> alphaObjective; ///< per grid point (empty with a fixed alpha)
    std::vector<double> scales;       ///< s per input channel
};

/// Runs AWQ on one weight; `out` gets W'. Needs w.input (absMean, xtx).
AwqResult awqQuantize(const WeightMatrix& w, const QuantSpec& spec, const AwqOptions& opt, float* out,
                      const JobContext& job);

/// The registry entry "awq".
class AwqQuantizer final : public Quantizer {
public:
    std::string_view name() const override { return "awq"; }
    std::string_view summary() const override {
        return "activation-aware scaling (AWQ): per-channel scale search on the layer output error, then clipping";
    }
    const ParamSchema& params() const override;
    bool needsCalibration() const override { return true; }
    void quantize(const WeightMatrix& w, const QuantSpec& spec, const nlohmann::json& params, float* out,
                  const JobContext& job) const override;
};

} // namespace qs::core
