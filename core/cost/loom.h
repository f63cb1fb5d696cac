// SPDX-License-Identifier: MIT
// "loom": Loom (DAC 2018), weights and activations both bit-serial (../shared/specs/cost-models.md §5), and the
// step loop it shares with DPRed's weights+activations variant.
#pragma once
#include "cost/bit_grid.h"
#include "cost/cost_model.h"

#include <memory>

namespace qs::core {

/// Options of the both-operands bit-serial step loop.
struct SerialPairOptions {
    PrecisionRule activationRule, weightRule;
    int activationGroup = 16;    ///< values per activation group: L lanes x activationGroup/L windows
    int weightGroup = 16;        ///< values per weight group: L lanes x weightGroup/L filters
    int serialBits = 1;          ///< PSB: activation bits per lane per cycle
    bool dynamicWeights = false; ///< per-group weight precisions from the codes; else staticWeightPrecision
    int staticWeightPrecision = 16;
};

struct SerialPairCycles {
    double cycles = 0;      ///< all filter sets
    double stallCycles = 0; ///< tiles waiting for the slowest per window set, or FC blocks for a busy column
    double meanActivationPrecision = 0; ///< mean over steps of the step's slowest activation group
    double meanWeightPrecision = 0;     ///< mean over (filter set, tile, kernel position, channel block)
};

/// Both operands bit-serial on the grid (§5.2, DNNsim 2019 computeLoomTile): per step and tile
/// ceil(pa / PSB) * pw, pa the step's slowest activation group, pw the tile's slowest weight group (or the static
/// Pw); tiles sum their steps per window set and the set costs the slowest tile; filter sets run one after
/// another. FC with M < W: DNNsim's issue queue (§5.3), block time pw * ceil(pa / PSB) with pw the block's slowest
/// weight group over all filters.
SerialPairCycles serialPairCycles(const CostLayer& layer, const GridLayout& layout, const SerialPairOptions& options);

/// The equal-peak bit-parallel engine (W*R*L*T*PSB/B^2 MACs per cycle) on the same loop (§5.1): B^2/PSB cycles per
/// step and filter set; FC with M < W: B^2/(W*PSB) per block (its W columns share the blocks).
double equalPeakBaselineCycles(const GridLayout& layout, int serialBits);

/// Events of the equal-peak baseline: its MAC slots x e_mac, with the same buffer, accumulator and DRAM events as
/// the serial grid on this loop.
GridEvents equalPeakBaselineEvents(const CostLayer& layer, const GridLayout& layout, int serialBits);

/// Conv: serialPairCycles with per-group dynamic activation precision and static (default) or dynamic weight
/// precision, against the equal-peak baseline: ideal speedup B^2/(Pa*Pw). FC with M < W: "paper" mode takes the
/// paper's rule C = C_BPeq * Pw / B (FC time scales with Pw only); "dnnsim" mode DNNsim's issue queue; "fc_rule" in
/// the output says which priced it. Potential (§10): Pa*Pw per pair - per-value widths in paper mode (the ideal
/// bound), the layer's precisions in dnnsim mode. Energy (§11): lane cycles x e_lane scaled by PSB/B (a Loom lane
/// multiplies PSB x 1 bits, a Stripes lane 1 x B), buffers, accumulators, DRAM at B bits; baseline: the equal-peak
/// engine's MAC slots. Extra: "activation_precision", "weight_precision" (means), "fc_rule", "stall_cycles",
/// "serial_bits", "mode", "events".
class LoomCostModel final : public CostModel {
public:
    std::string_view name() const override { return "loom"; }
    std::string_view summary() const override {
        return "Loom: weights and activations bit-serial, per-group dynamic activation precision";
    }
    const ParamSchema& params() const override;
    LayerCost layer(const CostLayer& layer, const nlohmann::json& params) const override;
};

std::unique_ptr<CostModel> makeLoomCostModel();

} // namespace qs::core
