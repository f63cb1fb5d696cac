// SPDX-License-Identifier: MIT
#pragma once
#include "model/model.h"
#include "nn/causal_lm.h"

#include <string>
#include <string_view>
#include <vector>

namespace qs::core {

/// The weight names a basis change of one Llama-family decoder layer touches. Site indices follow
/// CausalLm::layerSites(): 0 = q/k/v input, 1 = o_proj input, 2 = gate/up input, 3 = down_proj input.
struct LlamaLayerNames {
    std::string attnNorm, mlpNorm;   ///< RMSNorm weights feeding sites 0 and 2
    std::vector<std::string> qkv;    ///< q, k, v weights
    std::string o;
    std::vector<std::string> gateUp; ///< gate, up weights
    std::string down;
};

/// Every layer's names; throws Error naming `who` for an architecture these transforms cannot
/// change exactly (a row with a transformBlocker, architecture.h; GPT-2: LayerNorm with mean
/// subtraction and bias, fused c_attn, Conv1D layout).
std::vector<LlamaLayerNames> llamaLayers(const CausalLm& lm, const Model& model, std::string_view who);

/// "<base>.bias" when the model has it for the weight "<base>.weight", else empty.
std::string biasOf(const Model& model, const std::string& weightName);

} // namespace qs::core
