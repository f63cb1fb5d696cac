// SPDX-License-Identifier: MIT
#pragma once
#include "analysis/analysis.h"
#include "base/registry.h"
#include "cost/cost_model.h"
#include "quant/method_registries.h"

namespace qs::core {

/// Every open extension set of the engine. One instance per process (owned by main), passed by
/// reference; the analyses and the cost models join the method registries here.
struct Registries : MethodRegistries {
    Registry<Analysis> analyses;
    Registry<CostModel> costModels;
};

/// Fills the registries with the built-in entries: the one file that names every concrete entry.
void registerBuiltins(Registries& r);

} // namespace qs::core
