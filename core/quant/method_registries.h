// SPDX-License-Identifier: MIT
#pragma once
#include "base/registry.h"
#include "quant/quantizer.h"
#include "transform/model_transform.h"

namespace qs::core {

/// The extension sets a recipe draws on: weight quantizers and the basis changes run before them.
/// The engine's whole set (experiment/builtins.h: Registries) extends this one, so code on this floor
/// takes what it uses and never sees the analyses and cost models above it.
struct MethodRegistries {
    Registry<Quantizer> quantizers;
    /// Basis changes run before a quantizer ("rotate+gptq"): smoothquant, rotate, resq.
    Registry<ModelTransform> transforms;
};

} // namespace qs::core
