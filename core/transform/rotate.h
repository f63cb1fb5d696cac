// SPDX-License-Identifier: MIT
#pragma once
#include "transform/model_transform.h"

namespace qs::core {

/// QuaRot-style rotation of every decoder Linear input (data-free): RMSNorm weights are folded into
/// the following Linears (gamma -> 1, W -> W diag(gamma)) so that one random orthogonal Q of the
/// hidden size is exact at the q/k/v and gate/up inputs (x Q, W Q: the same activations QuaRot gets by
/// folding Q into the embedding and the o/down rows); o_proj and down_proj inputs get their own online
/// rotation; K and V are rotated per head before the KV quantization and rotated back after.
class RotateTransform final : public ModelTransform {
public:
    std::string_view name() const override { return "rotate"; }
    std::string_view summary() const override {
        return "QuaRot rotations: randomized Hadamard or random orthogonal basis of every Linear input, "
               "norms folded, K/V rotated per head (data-free)";
    }
    const ParamSchema& params() const override;
    bool needsCalibration() const override { return false; }
    bool perLayer() const override { return true; }
    void apply(const TransformInput& in, const nlohmann::json& params, TransformedModel& model) const override;
};

} // namespace qs::core
