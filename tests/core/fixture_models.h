// SPDX-License-Identifier: MIT
#pragma once
#include "fixture_paths.h"
#include "model/model.h"
#include "nn/causal_lm.h"

namespace qs::test {

/// The fixture Llama, opened once per test binary.
inline const core::Model& fixtureModel() {
    static const auto model = core::openModel(tinyLlama());
    return *model;
}

/// Its float32 forward pass, built once per test binary (tests only read it).
inline const core::CausalLm& fixtureLm() {
    static const core::CausalLm lm(fixtureModel());
    return lm;
}

} // namespace qs::test
