// SPDX-License-Identifier: MIT
#pragma once
#include "transform/model_transform.h"

namespace qs::core {

/// ResQ: per Linear input site, the PCA basis of the calibration second moment X^T X / n (uncentred:
/// the quantization error of a coordinate grows with its mean square, not its variance), with an
/// independent random rotation inside the top `high_fraction` subspace and inside the rest. The top
/// subspace (the first k input columns of the weights, the first k activation channels, the first k
/// channels of each K/V head in its own per-head basis) is quantized with int<high_bits>, the rest
/// with the given weight / activation / KV spec. RMSNorm weights are folded into the Linears first;
/// every site basis is applied online (a dense n x n product, counted in onlineParameters).
class ResqTransform final : public ModelTransform {
public:
    std::string_view name() const override { return "resq"; }
    std::string_view summary() const override {
        return "ResQ: PCA subspace of each Linear input (and K/V per head) kept at high_bits, the rest at the "
               "given format, random rotation inside each subspace (needs --calib)";
    }
    const ParamSchema& params() const override;
    bool needsCalibration() const override { return true; }
    /// A layer's bases come from the calibration stream entering it (TransformInput::layerStream).
    bool perLayer() const override { return true; }
    void apply(const TransformInput& in, const nlohmann::json& params, TransformedModel& model) const override;
};

} // namespace qs::core
