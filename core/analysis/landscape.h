// SPDX-License-Identifier: MIT
#pragma once
// The loss landscape around the model's weights (Li et al. 2018; PyHessian): 1-D slices
// L(W + t·v) and 2-D grids L(W + a·u + b·w) along a recipe's quantization error, seeded
// filter-normalised Gaussian directions or the top Hessian eigenvector; the exact slope and
// curvature along each direction, per-layer curvature along it, the basin radius, and per-layer
// Hessian traces and top eigenvalues.
#include "analysis/analysis.h"
#include "nn/hessian_estimates.h"

#include <vector>

namespace qs::core {

/// "landscape". Parameters: direction, direction2 ("recipe:{JSON}" (the recipe's canonical JSON),
/// "random:SEED", "eigen"; direction2 "" for none), t, t2 (comma-separated lists), layer (-1: the
/// whole model, else only that decoder layer's part of each direction), per_layer, trace, eigen,
/// samples, iterations, seed, delta, float64. Arrays: slice [t x 2] and slice2 [t2 x 2] (t and the loss
/// along the first and the second direction), grid [t x t2] (with direction2), layer_curvature [layers x directions]
/// (vᵀ H_ll v of each layer's part), layer_trace / layer_eigen [layers x 2] (value, error).
class LandscapeAnalysis : public Analysis {
public:
    std::string_view name() const override { return "landscape"; }
    std::string_view summary() const override {
        return "loss slices and contours along quantization / random / eigen directions, exact curvature";
    }
    const ParamSchema& params() const override;
    AnalysisOutput run(const AnalysisInput& input, const nlohmann::json& params, const JobContext& job) const override;
};

/// A comma-separated list of finite numbers (e.g. "-1,-0.5,0,0.5,1"). Throws Error naming `owner`.
std::vector<double> parseNumberList(const std::string& text, const std::string& owner);

/// {label: {"value", spread: error, "steps"}} of per-block trace or eigenvalue estimates (`spread`:
/// "std_error" for Hutchinson traces, "change" for power iteration).
nlohmann::json blockEstimatesJson(const std::vector<BlockEstimate>& estimates, const char* spread);

/// The basin radius along a slice (Xu et al. 2024): the smallest t > 0 at which L(t) − L(0) exceeds
/// `delta`, linearly interpolated between the slice's points (ts ascending, 0 among them); a negative
/// value when the slice stays inside (the radius is past the last t).
double basinRadius(const std::vector<double>& ts, const std::vector<double>& losses, double delta);

} // namespace qs::core
