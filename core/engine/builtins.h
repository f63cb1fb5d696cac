// SPDX-License-Identifier: MIT
#pragma once
#include "quant/quantizer.h"
#include "quant/registry.h"
#include "transform/model_transform.h"

namespace qs::core {

/// Every open extension set of the engine. One instance per process (owned by main), passed by reference.
struct Registries {
    Registry<Quantizer> quantizers;
    /// Basis changes run before a quantizer ("rotate+gptq"): smoothquant, rotate, resq.
    Registry<ModelTransform> transforms;
};

/// Fills the registries with the built-in entries.
void registerBuiltins(Registries& r);

} // namespace qs::core
