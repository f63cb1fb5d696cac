// SPDX-License-Identifier: MIT
#pragma once
#include "quant/method_registries.h"

namespace qs::core {

/// Every open extension set of the engine. One instance per process (owned by main), passed by
/// reference; the registries of analyses and cost models join the method registries here.
struct Registries : MethodRegistries {};

/// Fills the registries with the built-in entries: the one file that names every concrete entry.
void registerBuiltins(Registries& r);

} // namespace qs::core
