// SPDX-License-Identifier: MIT
// Bits where the information is: a bit width per group of a layer under the layer's bit budget, after
// DQ-VAE's dynamic granularity (../shared/papers/ABSTRACTS.md), chosen by rate-distortion.
#pragma once
#include "quant/quantizer.h"

#include <cstdint>
#include <vector>

namespace qs::core {

/// Chooses one option per group minimising the summed error under a total cost:
/// `error[g * W + w]` and `cost[g * W + w]` for group g and option w (W options). Lagrangian: every group
/// takes argmin error + lambda * cost, lambda bisected to the smallest that fits, then the left-over
/// budget is spent on the upgrades with the best error saved per extra cost. Deterministic. Returns
/// the option per group; throws Error when even the cheapest options exceed the budget.
std::vector<int> allocateByRateDistortion(const std::vector<double>& error, const std::vector<double>& cost,
                                          std::size_t options, double budget);

/// "dynbits": RTN with a bit width per group of the layer (INT widths from `widths`, e.g. "3,4,8";
/// the spec's format must be an INT one and its group size, symmetry and scale rule apply to every
/// width). `target` is the bits per weight the layer stores: codes, zero points, the per-group scales
/// and a width index per group; the unused part of the budget is padding, so bitsPerWeight() is the
/// target and plans can count it before quantizing. When a single width fits, the uniform layout at the
/// largest fitting width is kept if it has less error (so the result is never worse than uniform groups
/// at the same bits).
class DynBitsQuantizer final : public Quantizer {
public:
    std::string_view name() const override { return "dynbits"; }
    std::string_view summary() const override {
        return "RTN with a bit width per group, chosen by squared error saved per bit under the layer's budget";
    }
    const ParamSchema& params() const override;
    bool needsCalibration() const override { return false; }
    void quantize(const WeightMatrix& w, const QuantSpec& spec, const nlohmann::json& params, float* out,
                  const JobContext& job) const override;
    double bitsPerWeight(const QuantSpec& spec, const nlohmann::json& params, std::int64_t rows,
                         std::int64_t cols) const override;
};

} // namespace qs::core
