// SPDX-License-Identifier: MIT
#pragma once
#include "experiment/builtins.h"

namespace qs::test {

/// The engine's registries with every built-in entry, built once per test binary (tests only read them).
inline const core::Registries& builtinRegistries() {
    static const core::Registries r = [] {
        core::Registries x;
        core::registerBuiltins(x);
        return x;
    }();
    return r;
}

} // namespace qs::test
