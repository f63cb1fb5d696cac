// SPDX-License-Identifier: MIT
// "bitparallel": the DaDianNao-like bit-parallel engine every grid design is measured against
// (../shared/specs/cost-models.md §1): T tiles x R filters x L lanes of B x B multipliers, one window per cycle.
#pragma once
#include "cost/cost_model.h"

#include <memory>

namespace qs::core {

/// Cycles C_BP = M * OX * OY * KX * KY * ceil(C/L) * FS (FC: M * ceil(C/L) * FS); speedup and potential 1 by
/// definition. Energy (§11): MAC slots (busy and idle) x e_mac, per cycle and tile one activation row (L x B bits)
/// and one weight row (R x L x B bits), R accumulator updates, weights and activations once off chip at B bits.
/// Extra: "macs" (the layer's), "utilisation" (macs / MAC slots), "events".
class BitParallelCostModel final : public CostModel {
public:
    std::string_view name() const override { return "bitparallel"; }
    std::string_view summary() const override {
        return "DaDianNao-like bit-parallel engine (the grid designs' baseline, speedup 1)";
    }
    const ParamSchema& params() const override;
    bool needsActivations() const override { return false; }
    bool needsWeights() const override { return false; }
    LayerCost layer(const CostLayer& layer, const nlohmann::json& params) const override;
};

std::unique_ptr<CostModel> makeBitParallelCostModel();

} // namespace qs::core
