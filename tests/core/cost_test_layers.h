// SPDX-License-Identifier: MIT
// Small conv / FC layers with generated codes for the accelerator cost-model tests, and pricing with
// validated params.
#pragma once
#include "base/param_schema.h"
#include "cost/cost_model.h"

#include <cstdint>
#include <functional>
#include <string>

namespace qs::test {

/// Code of the index-th value in the operand's storage order (CostLayer's layouts).
using CodeFn = std::function<std::int32_t(std::int64_t index)>;

inline CodeFn constantCode(std::int32_t v) {
    return [v](std::int64_t) { return v; };
}

struct ConvSpec {
    std::int64_t C = 16, F = 256, M = 1;
    int NX = 6, NY = 6, KX = 3, KY = 3, stride = 1, pad = 0, groups = 1;
    int activationBits = 16, weightBits = 16;
    bool activationsSigned = false, weightsSigned = true;
};

inline core::CostLayer makeConvLayer(const ConvSpec& s, const CodeFn& activation, const CodeFn& weight) {
    core::CostLayer l;
    l.name = "conv";
    l.shape = core::LayerShape::Conv;
    l.C = s.C, l.F = s.F, l.M = s.M;
    l.KX = s.KX, l.KY = s.KY, l.stride = s.stride, l.pad = s.pad, l.groups = s.groups;
    l.NX = s.NX, l.NY = s.NY;
    l.OX = (s.NX + 2 * s.pad - s.KX) / s.stride + 1;
    l.OY = (s.NY + 2 * s.pad - s.KY) / s.stride + 1;
    l.activations.bits = s.activationBits, l.activations.isSigned = s.activationsSigned;
    l.weights.bits = s.weightBits, l.weights.isSigned = s.weightsSigned;
    l.activations.codes.resize(static_cast<std::size_t>(s.M * s.C * s.NY * s.NX));
    for (std::size_t i = 0; i < l.activations.codes.size(); ++i)
        l.activations.codes[i] = activation(static_cast<std::int64_t>(i));
    l.weights.codes.resize(static_cast<std::size_t>(s.F * (s.C / s.groups) * s.KY * s.KX));
    for (std::size_t i = 0; i < l.weights.codes.size(); ++i)
        l.weights.codes[i] = weight(static_cast<std::int64_t>(i));
    return l;
}

inline core::CostLayer makeFcLayer(std::int64_t C, std::int64_t F, std::int64_t M, int activationBits,
                                   int weightBits, const CodeFn& activation, const CodeFn& weight) {
    core::CostLayer l;
    l.name = "fc";
    l.shape = core::LayerShape::FullyConnected;
    l.C = C, l.F = F, l.M = M;
    l.activations.bits = activationBits, l.activations.isSigned = false;
    l.weights.bits = weightBits;
    l.activations.codes.resize(static_cast<std::size_t>(M * C));
    for (std::size_t i = 0; i < l.activations.codes.size(); ++i)
        l.activations.codes[i] = activation(static_cast<std::int64_t>(i));
    l.weights.codes.resize(static_cast<std::size_t>(F * C));
    for (std::size_t i = 0; i < l.weights.codes.size(); ++i)
        l.weights.codes[i] = weight(static_cast<std::int64_t>(i));
    return l;
}

/// The model's cost of `layer` under `given` parameters (validated, defaults filled).
inline core::LayerCost priceLayer(const core::CostModel& model, const core::CostLayer& layer,
                                  const nlohmann::json& given = nlohmann::json::object()) {
    return model.layer(layer, core::validateParams(model.params(), given, std::string(model.name())));
}

} // namespace qs::test
