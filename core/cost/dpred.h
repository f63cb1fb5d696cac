// SPDX-License-Identifier: MIT
// "dpred": Dynamic Stripes / ShapeShifter / DPRed, per-group dynamic activation precision
// (../shared/specs/cost-models.md §4), and the off-chip footprint of DPRed's per-group encoding (§11c).
#pragma once
#include "cost/cost_model.h"

#include <memory>

namespace qs::core {

/// variant "activations" (Dynamic Stripes / ShapeShifter / DPRed's activations-only engine): the Stripes grid with
/// a leading-1 detector per group of precision_group activations (L lanes x precision_group/L windows); per step each group
/// takes its precision p_g, groups lock-step to the slowest (column_registers = 0) or run ahead by up to CR steps
/// (§4.2); C = FS * sum over images of the slowest group's finish. FC with M < W: the issue queue with block time
/// p(block) (§4.3). Baseline bitparallel; potential (§10): per-value width x B, or DNNsim 2019's layer Pa x B in
/// dnnsim mode with the sign-magnitude form (it has no dynamic gain).
/// variant "weights_activations" (DPRed's second engine): weights bit-serial too, each group of precision_group weights
/// at its own precision chosen offline (the codes' group precision) - Loom's loop (serialPairCycles) against the
/// equal-peak baseline; potential width(a) x width(w).
/// Footprint: groups of precision_group values along channels, each stored as a ceil(log2 B)-bit width header plus its
/// values at the group's leading-bit precision: bytes = (h + G*p_g)/8; the design's DRAM energy reads the
/// compressed bytes, the baseline's B bits per value. Energy otherwise as stripes (loom for the second variant).
/// Extra: "variant", "activation_precision" (mean step precision), "stall_cycles", "stall_fraction",
/// "weight_bytes_compressed", "weight_bytes_uncompressed", "activation_bytes_compressed",
/// "activation_bytes_uncompressed", "footprint_ratio", "fc_rule", "mode", "events".
class DpredCostModel final : public CostModel {
public:
    std::string_view name() const override { return "dpred"; }
    std::string_view summary() const override {
        return "Dynamic Stripes / ShapeShifter / DPRed: per-group dynamic precision and compressed footprint";
    }
    const ParamSchema& params() const override;
    LayerCost layer(const CostLayer& layer, const nlohmann::json& params) const override;
};

/// Off-chip bytes of one operand laid out [outer][channels][inner] under DPRed-style per-group widths: for each
/// (outer, inner) position, runs of `groupSize` channels, each (ceil(log2 baselineBits) + n * p_g) / 8 bytes with
/// p_g the run's leading-bit precision (two's complement or sign-magnitude form).
double compressedBytes(const OperandCodes& operand, std::int64_t channels, std::int64_t inner, int groupSize,
                       int baselineBits, bool twosComplement);

std::unique_ptr<CostModel> makeDpredCostModel();

} // namespace qs::core
