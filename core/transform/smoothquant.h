// SPDX-License-Identifier: MIT
#pragma once
#include "transform/model_transform.h"

namespace qs::core {

/// SmoothQuant: per input channel s_j = max|X_j|^alpha / max|W_j|^(1 - alpha) from the calibration
/// absMax; x -> x / s, W -> W diag(s). Everything folds on a Llama-family model, nothing runs online:
/// q/k/v and gate/up: gamma -> gamma / s (the preceding RMSNorm); o_proj: the v_proj output rows
/// (GQA: one s per KV-head channel, the max over the query heads sharing it, so the fold stays exact);
/// down_proj: the up_proj output rows (silu(g) * (u / s) = (silu(g) * u) / s).
class SmoothQuantTransform final : public ModelTransform {
public:
    std::string_view name() const override { return "smoothquant"; }
    std::string_view summary() const override {
        return "SmoothQuant: migrate activation outliers into the weights, s = max|X|^a / max|W|^(1-a), "
               "folded into norms / v_proj / up_proj (needs --calib)";
    }
    const ParamSchema& params() const override;
    bool needsCalibration() const override { return true; }
    /// A layer's scales come from the calibration stream entering it (TransformInput::layerStream).
    bool perLayer() const override { return true; }
    void apply(const TransformInput& in, const nlohmann::json& params, TransformedModel& model) const override;
};

} // namespace qs::core
