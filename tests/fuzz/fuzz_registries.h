// SPDX-License-Identifier: MIT
// The built-in registries the recipe and grid harnesses validate against, built once per process.
#pragma once
#include "experiment/builtins.h"

namespace qs::fuzz {

inline const core::Registries& registries() {
    static const core::Registries r = [] {
        core::Registries x;
        core::registerBuiltins(x);
        return x;
    }();
    return r;
}

} // namespace qs::fuzz
