// SPDX-License-Identifier: MIT
#pragma once
// Local vs global objectives (after Xu et al. 2024, "Understanding the difficulty of low-precision
// post-training quantization of LLMs"): for one weight, many quantizations of the same format — RTN
// with several clipping rules, GPTQ variants, AWQ, and random element-wise mixes of RTN's and GPTQ's
// results (graded local errors) — scored by the layer-local objective tr((Q − W) H (Q − W)ᵀ)/tokens
// (H = XᵀX of the weight's input on the calibration data, GPTQ's objective) and by the global change
// of loss and KL when only that weight is replaced (on the analysis set); their rank agreement per format.
#include "analysis/analysis.h"

namespace qs::core {

/// "misalignment". Parameters: layer (a weight name, with or without ".weight"), formats (SPECs in
/// the --act-quant syntax, comma-separated: one correlation each), mixes (random RTN/GPTQ mixes per
/// format), seed. Needs calibration data. Arrays: scores [candidates x 3] (local, delta_loss, kld).
class MisalignmentAnalysis : public Analysis {
public:
    std::string_view name() const override { return "misalignment"; }
    std::string_view summary() const override {
        return "one weight's candidate quantizations: local objective against global loss change";
    }
    const ParamSchema& params() const override;
    AnalysisOutput run(const AnalysisInput& input, const nlohmann::json& params, const JobContext& job) const override;
};

} // namespace qs::core
