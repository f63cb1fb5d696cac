// SPDX-License-Identifier: MIT
// "tactical": Bit-Tactical (ASPLOS 2019), zero weights skipped by an offline schedule (tactical_schedule.h)
// in front of a bit-parallel, TCLp (dynamic precision) or TCLe (Pragmatic terms) back end
// (../shared/specs/cost-models.md §8).
#pragma once
#include "cost/cost_model.h"

#include <memory>

namespace qs::core {

/// Filters per set min(R, ceil((F/groups) / T)), scheduled with lookahead H, lookaside D and the L or T
/// search shape; set s runs on tile s mod T, tiles accumulate independently and the layer costs the slowest
/// tile (§8.3). backend "frontend" (DaDianNao with tactical on): one cycle per kept row and window, C = M *
/// NW * max over tiles of the tile's kept rows. "tclp": per kept row and window group (precision_group / L
/// windows) the precision of every activation its slots fetch (§2 rule from precision_form / trim_lsb);
/// groups lock-step or run ahead by CR. "tcle": per kept row and window the Pragmatic PE cycles of each
/// filter's L slot activations, the slowest filter; columns sync as in §6. FC with M < W: the same schedule
/// through an issue queue per tile (block = kept row x row). Baseline: bitparallel's C_BP (the schedule's Tf
/// rows per set). Modes: dnnsim counts the activations of zero weights left in kept rows (DNNsim fetches
/// them) and lets an all-zero set of Tf <= H rows vanish; paper mode skips zero weights' activations and
/// keeps one row per set at least. Potential (§10): B^2 per pair over frontend w ? B^2 : 0, tcle w ? max(1,
/// terms(a) B) : 1, tclp w ? Pa B : 1 (Pa per value in paper mode, the layer's in dnnsim mode). Energy (§11):
/// frontend as bitparallel at its cycles; tclp / tcle as stripes / pragmatic with the buffer reads and
/// accumulations of the kept rows only (mux select bits and wider activation reads not priced). Extra:
/// "backend", "kept_rows", "original_rows", "schedule_speedup" (original / kept rows, slowest tile),
/// "filters_per_set", "promotions", "weight_density", "lookahead", "lookaside", "search_shape",
/// "stall_cycles", "utilisation", "term_encoding", "first_stage_bits", "column_registers", "fc_rule", "mode",
/// "events".
class TacticalCostModel final : public CostModel {
public:
    std::string_view name() const override { return "tactical"; }
    std::string_view summary() const override {
        return "Bit-Tactical: offline zero-weight skipping in front of a bit-parallel, TCLp or TCLe back end";
    }
    const ParamSchema& params() const override;
    LayerCost layer(const CostLayer& layer, const nlohmann::json& params) const override;
};

std::unique_ptr<CostModel> makeTacticalCostModel();

} // namespace qs::core
