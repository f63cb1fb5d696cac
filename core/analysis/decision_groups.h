// SPDX-License-Identifier: MIT
// The unit a mixed-precision plan decides: the weights a runtime fuses and must give one format.
#pragma once
#include "model/model.h"
#include "nn/causal_lm.h"

#include <cstdint>
#include <string>
#include <vector>

namespace qs::core {

/// How quantizable weights are gathered into decision groups.
enum class GroupMode {
    Fused, ///< the weights that share one input (q/k/v, gate/up; GPT-2's fused c_attn) decide together
    Each,  ///< every weight decides alone
};

/// "fused" / "each".
std::string groupModeName(GroupMode mode);
/// Parses "fused" / "each"; throws Error naming `owner` otherwise.
GroupMode groupModeFromName(const std::string& name, const std::string& owner);

/// Weights that take one format together.
struct DecisionGroup {
    std::string name;                 ///< "model.layers.0.self_attn.q_proj+k_proj+v_proj"
    int layer = 0;                    ///< decoder layer index
    std::vector<std::string> weights; ///< full weight names, in the model's order
    std::int64_t params = 0;          ///< elements of all its weights
};

/// The decision groups of `model` in execution order (layer, then site order). Fused groups follow
/// the forward pass's input sites (CausalLm::layerSites), so they are exactly what shares an input
/// at run time. Throws Error when a quantizable weight is fed by no site (the forward pass never
/// reads it) or lies outside the decoder layers.
std::vector<DecisionGroup> decisionGroups(const Model& model, const CausalLm& lm, GroupMode mode);

/// "model.layers.0.self_attn.q_proj+k_proj+v_proj": the first rule name, then the last dotted part of
/// each further one.
std::string decisionGroupName(const std::vector<std::string>& weights);

} // namespace qs::core
