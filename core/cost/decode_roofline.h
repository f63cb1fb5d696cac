// SPDX-License-Identifier: MIT
// Memory-bound LLM decode (../shared/specs/cost-models.md §13, after hahnyuan/LLM-Viewer's roofline): per
// costed layer time = max(OPs / peak, bytes / (bandwidth x kernel efficiency)); per model the KV-cache reads at
// a context length, the weights outside the costed layers, step time, tokens/s = batch / t and the same
// figures for an fp16 model. A bytes-only roofline overstates FP4 (NVFP4 decodes 8-12 % slower than FP8 on
// an RTX PRO 6000, ../shared/specs/field.md), so every weight family carries the fraction of bandwidth its
// dequantising GEMV reaches.
#pragma once
#include "cost/cost_model.h"
#include "cost/mac_cost.h"

#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

namespace qs::core {

/// A decode hardware profile. Peaks are dense: vendor sheets also quote 2:4-sparse figures (twice as high),
/// and LLM-Viewer's H100 FP16 entry is the sparse one.
struct DecodeHardware {
    std::string_view name;
    double bandwidthGBs = 0;   ///< memory bandwidth, GB/s (1e9 bytes/s)
    double peakTflopsFp16 = 0; ///< dense FP16 tensor peak, TFLOPS
    double peakTopsInt8 = 0;   ///< dense INT8 tensor peak, TOPS
    double clockGHz = 0;       ///< cycles reported = seconds x clock
};

/// The named profiles ("h100-sxm", "h200", "a100-sxm-80gb", "rtx4090", "cpu-2core"); "custom" is not among them.
std::span<const DecodeHardware> decodeProfiles();
/// The hardware a validated parameter object stands for: the profile, or the numeric parameters for "custom".
/// Throws Error when a numeric hardware parameter is changed from its default under a named profile.
DecodeHardware decodeHardwareFromParams(const nlohmann::json& params);

/// The one table of kernel efficiencies (fraction of the bandwidth a decode GEMV reaches) per weight family
/// (fp16, bf16 count as fp16; fp8, fp6, fp4, int8, int4, lut = scalar code books nf4/log2/sulq, vq) for a
/// profile. Measured figures replace these defaults here.
nlohmann::json defaultDecodeEfficiency(std::string_view profile);
/// Efficiency-table family of a weight format ("fp16", "fp8", "int4", "lut", "vq", ...).
std::string decodeEfficiencyFamily(const CostFormat& format);
/// Family of a value stored at `bits` bits when only the width is known (KV cache, weights outside the plan).
std::string decodeEfficiencyFamilyForBits(double bits);

/// "decode": tokens/s and latency of autoregressive decode for a hardware profile from the per-layer plan.
/// Per layer (M is ignored: `batch` sequences decode one token each): weight bytes = F*C/groups*KY*KX *
/// weightStoredBits / 8 (scales and code books included), activation bytes = batch * (inputs + outputs per row)
/// * activationStoredBits / 8 (activation_traffic), OPs = 2 * MACs per row * batch; peak = INT8 TOPS when the
/// weight and activation bits are both <= 8, else FP16 TFLOPS; time = max(OPs / peak, weight bytes /
/// (BW * efficiency) + activation bytes / BW). Baseline: the same layer with fp16 weights and activations.
/// cycles = seconds * clock. Energy is not modelled (0).
class DecodeCostModel final : public CostModel {
public:
    std::string_view name() const override { return "decode"; }
    std::string_view summary() const override {
        return "memory-bound LLM decode roofline: tokens/s and latency for a hardware profile (LLM-Viewer)";
    }
    const ParamSchema& params() const override;
    bool needsActivations() const override { return false; }
    bool needsWeights() const override { return false; }
    LayerCost layer(const CostLayer& layer, const nlohmann::json& params) const override;
    /// Step time = the layers' times + attention (per transformer layer: K and V reads of `context` tokens,
    /// 2 * context * kvHeads * headDim * kvBits / 8 bytes per sequence, plus the new token's store) + the weights
    /// outside the plan (the lm_head and norms read in full every step; an untied embedding only looked up,
    /// batch rows). LLM-Viewer picks one peak for the whole model (INT8 only when weight, activation and KV bits
    /// are all <= 8); here each operator picks its own: a linear layer by its weight and activation bits,
    /// attention by the activation and KV bits (the same choice when the bits are uniform).
    /// {"step_time_s", "tokens_per_s", "latency_ms_per_token", "linear", "attention",
    /// "other_weights", "fp16": {...}, "speedup_vs_fp16", "compute_bound_above_batch", "hardware"}.
    nlohmann::json modelFigures(const std::vector<LayerCost>& layers, const CostModelContext& context,
                                const nlohmann::json& params) const override;
};

std::unique_ptr<CostModel> makeDecodeCostModel();

} // namespace qs::core
