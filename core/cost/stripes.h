// SPDX-License-Identifier: MIT
// "stripes": Stripes (MICRO 2016), activations bit-serial at a static per-layer precision Pa
// (../shared/specs/cost-models.md §3).
#pragma once
#include "cost/cost_model.h"

#include <memory>

namespace qs::core {

/// Conv: C = M * WS * KX * KY * CB * Pa * FS' with Pa = min(precision, pe_width) and FS' counting ceil(Pw /
/// pe_width) rows per filter; all groups lock-stepped to Pa. FC with M < W rows: DNNsim's issue queue, each block
/// holding its column Pa cycles (~1x). Baseline: bitparallel's C_BP. Potential (§10): B / Pa.
/// Parameters: precision_source (quantizer = the activations' bits; observed = minimal bits covering the layer's codes),
/// pe_width, the tile grid, energy constants. Energy (§11): lane cycles of the whole grid (busy and idle) x e_lane,
/// buffer rows and accumulator updates per step and tile, weights and activations off chip at B bits; the
/// baseline is bitparallel's. Extra: "activation_precision", "weight_precision", "rows_per_filter", "precision_source",
/// "fc_rule" (conv | conv_1x1 | dnnsim_issue_queue), "stall_cycles", "utilisation", "events".
class StripesCostModel final : public CostModel {
public:
    std::string_view name() const override { return "stripes"; }
    std::string_view summary() const override {
        return "Stripes: bit-serial activations at a static per-layer precision";
    }
    const ParamSchema& params() const override;
    bool needsWeights() const override { return false; }
    LayerCost layer(const CostLayer& layer, const nlohmann::json& params) const override;
};

std::unique_ptr<CostModel> makeStripesCostModel();

} // namespace qs::core
