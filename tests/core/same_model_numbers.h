// SPDX-License-Identifier: MIT
#pragma once
// Checks that two ways of holding a model's weights compute the same bits (16-bit and compact
// Linears against float32 twins).
#include "nn/causal_lm.h"
#include "nn/causal_lm_grad.h"
#include "model/model.h"

#include <gtest/gtest.h>

#include <map>
#include <span>
#include <string>
#include <vector>

namespace qs::test {

/// Logits of `window` through a layerByLayer() model of `model`, layer l loaded with replaced[l]
/// (none when absent), run and released in turn.
inline core::RowMatrixF layerByLayerLogits(const core::Model& model, std::span<const std::int32_t> window,
                                           std::map<int, std::map<std::string, std::vector<float>>> replaced = {}) {
    core::CausalLm layered = core::CausalLm::layerByLayer(model);
    core::RowMatrixF x = layered.embed(window);
    for (int l = 0; l < layered.numLayers(); ++l) {
        layered.loadLayer(l, std::move(replaced[l]));
        layered.runLayer(l, x);
        layered.releaseLayer(l);
    }
    return layered.logits(x);
}

/// The loss and every gradient of `a` and `b` on `windows` are the same bits.
inline void expectSameGradients(const core::CausalLm& a, const core::CausalLm& b,
                                std::span<const std::span<const std::int32_t>> windows) {
    const core::LossGradient ga = core::lossGradient(a, windows, 1), gb = core::lossGradient(b, windows, 1);
    EXPECT_EQ(ga.loss, gb.loss);
    ASSERT_EQ(ga.names, gb.names);
    for (std::size_t i = 0; i < ga.names.size(); ++i) EXPECT_TRUE(ga.gradients[i] == gb.gradients[i]) << ga.names[i];
}

} // namespace qs::test
