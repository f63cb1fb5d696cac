// SPDX-License-Identifier: MIT
#pragma once
#include "fixture_paths.h"
#include "io/npy.h"
#include "model/model.h"
#include "nn/causal_lm.h"

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

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

/// The fixture's evaluation tokens (ref_test_tokens.npy: the first 8192 tokens of test.txt).
inline const std::vector<std::int32_t>& fixtureTestTokens() {
    static const std::vector<std::int32_t> ids = [] {
        const core::Tensor t = core::readNpy(tinyLlama() / "ref_test_tokens.npy");
        if (t.dtype() != core::DType::I32) throw std::runtime_error("ref_test_tokens.npy is not int32");
        return std::vector<std::int32_t>(t.data<std::int32_t>(), t.data<std::int32_t>() + t.numel());
    }();
    return ids;
}

/// The fixture's reference.json (numbers computed independently with PyTorch).
inline const nlohmann::json& fixtureReference() {
    static const nlohmann::json j = nlohmann::json::parse(std::ifstream(tinyLlama() / "reference.json"));
    return j;
}

} // namespace qs::test
