// SPDX-License-Identifier: MIT
// "laconic": Laconic (ISCA 2019), effectual terms of both operands (../shared/specs/cost-models.md §7).
#pragma once
#include "cost/cost_model.h"
#include "cost/value_bits.h"

#include <cstdint>
#include <memory>

namespace qs::core {

/// How many terms a Laconic lane spends on one operand value: its effectual terms, or under DNNsim 2020's
/// spatial composition (blockBits > 0) the most terms of any blockBits-wide block of its magnitude - the
/// blocks run on separate PEs side by side, so the slowest block sets the pace.
struct LaconicTerms {
    TermEncoding encoding = TermEncoding::Naf;
    int blockBits = 0; ///< pe_width when the operand is wider and composition applies; 0 = whole values
    int of(std::int32_t v) const;
};

/// Per step (§7.2): max over the W windows, R filters and L lanes of max(1, terms(a) * terms(w)) (the PEs of
/// a tile run in lock step); each tile sums its steps per window set and the window set costs its slowest
/// tile; filter sets one after another. FC with M < W: an issue queue per tile with block time the max over
/// its R x L pairs (§7.3); the slowest tile. Encoding "auto": NAF (the paper's booth-encoded terms, at their
/// ideal) in paper mode, DNNsim's booth in dnnsim mode. dnnsim mode also applies spatial composition:
/// operands wider than pe_width split into ceil(P / pe_width) blocks, each pair needing ceil(Pa/pe) *
/// ceil(Pw/pe) rows. Baseline: bitparallel's C_BP on the same grid (equal peak lanes, as DNNsim); the paper
/// normalises by weight-memory wires instead, so its headline figures are not this ratio ("baseline_note").
/// Potential (§10): B^2 / max(1, terms(a) * terms(w)) per pair (min 1 with min_one_cycle). Energy (§11): lane
/// cycles x e_lane scaled by log2(B)/B (a lane adds two term exponents instead of Stripes' 1 x B-bit AND row;
/// our estimate), buffers, accumulators, DRAM at B bits; baseline bitparallel's. Extra: "term_encoding",
/// "pe_width", "rows_per_filter", "mean_step_cycles", "stall_cycles", "utilisation",
/// "weight_interface_wires", "weight_bits_per_cycle", "baseline_weight_interface_wires", "baseline_note",
/// "fc_rule", "mode", "events".
class LaconicCostModel final : public CostModel {
public:
    std::string_view name() const override { return "laconic"; }
    std::string_view summary() const override {
        return "Laconic: effectual booth terms of both activations and weights, lanes in lock step";
    }
    const ParamSchema& params() const override;
    LayerCost layer(const CostLayer& layer, const nlohmann::json& params) const override;
};

std::unique_ptr<CostModel> makeLaconicCostModel();

} // namespace qs::core
