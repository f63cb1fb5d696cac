// SPDX-License-Identifier: MIT
// "pragmatic": Bit-Pragmatic (MICRO 2017), only the effectual terms of the activations are processed
// (../shared/specs/cost-models.md §6); its PE is Bit-Tactical TCLe's back end (§8).
#pragma once
#include "cost/cost_model.h"
#include "cost/value_bits.h"

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace qs::core {

/// A Pragmatic PE (§6.1, §2): each lane shifts its weight by the terms of its activation; a shared base shift
/// plus a first stage of F bits lets lanes whose next term lies within 2^F - 1 of the smallest one go in the
/// same cycle.
class PragmaticShifter {
public:
    PragmaticShifter(TermEncoding encoding, int firstStageBits)
        : encoding_(encoding), firstStageBits_(firstStageBits) {}
    /// "first_stage_bits", "column_registers" and "term_encoding" of a validated parameter object; "auto"
    /// encoding resolves to `paperEncoding` in paper mode.
    static PragmaticShifter fromParams(const nlohmann::json& params, TermEncoding paperEncoding);
    /// Cycles of the PE over its lanes' activation codes: two-stage over their term positions, at least 1.
    int cycles(std::span<const std::int32_t> activations);
    TermEncoding encoding() const { return encoding_; }
    int firstStageBits() const { return firstStageBits_; }

private:
    TermEncoding encoding_;
    int firstStageBits_;
    std::vector<std::uint64_t> masks_;
};

/// first_stage_bits (F), column_registers (CR), term_encoding: the parameters of Pragmatic's PE and column
/// sync.
ParamSchema pragmaticSchema();

/// Conv (and FC with M >= W as a 1x1 conv): per step and column (window) the PE cycles over its L
/// activations; the columns lock-step to the slowest (CR = 0) or run ahead by up to CR steps (§4.2 rule); all
/// tiles see the same activations, so C = FS * sum over images of the slowest column. FC with M < W: DNNsim's
/// issue queue, each block holding its column for its PE cycles (~1x, §6.3). Baseline: bitparallel's C_BP.
/// Potential (§10): B^2 / max(1, terms(a) * B) per pair. Encoding "auto": binary (the paper's one-offsets) in
/// paper mode, DNNsim's booth in dnnsim mode. Energy (§11): lane cycles of the whole grid (a lane = Stripes'
/// 1 x B bits) x e_lane, buffer rows and accumulator updates per step and tile, DRAM at B bits; baseline
/// bitparallel's. Extra: "term_encoding", "first_stage_bits", "column_registers", "mean_step_cycles",
/// "stall_cycles", "stall_fraction", "utilisation", "fc_rule", "mode", "events".
class PragmaticCostModel final : public CostModel {
public:
    std::string_view name() const override { return "pragmatic"; }
    std::string_view summary() const override {
        return "Bit-Pragmatic: only the activations' effectual terms, two-stage shifting";
    }
    const ParamSchema& params() const override;
    bool needsWeights() const override { return false; }
    LayerCost layer(const CostLayer& layer, const nlohmann::json& params) const override;
};

std::unique_ptr<CostModel> makePragmaticCostModel();

} // namespace qs::core
