// SPDX-License-Identifier: MIT
#include "transform/llama_layout.h"

#include "tensor/error.h"

namespace qs::core {

std::vector<LlamaLayerNames> llamaLayers(const CausalLm& lm, const Model& model, std::string_view who) {
    const std::string w(who);
    if (model.config().arch == Architecture::Gpt2)
        throw Error(w + ": GPT-2 (LayerNorm with mean and bias, fused c_attn) is not supported; "
                        "the transform needs a Llama-family model (RMSNorm, q/k/v, gated MLP)");
    std::vector<LlamaLayerNames> out;
    for (int l = 0; l < lm.numLayers(); ++l) {
        const auto sites = lm.layerSites(l);
        if (sites.size() != 4 || sites[0].weights.size() != 3 || sites[2].weights.size() != 2)
            throw Error(w + ": layer " + std::to_string(l) + " is not a Llama-family layer (q/k/v, gated MLP)");
        LlamaLayerNames n;
        const std::string b = "model.layers." + std::to_string(l) + ".";
        n.attnNorm = b + "input_layernorm.weight";
        n.mlpNorm = b + "post_attention_layernorm.weight";
        n.qkv = sites[0].weights;
        n.o = sites[1].weights.at(0);
        n.gateUp = sites[2].weights;
        n.down = sites[3].weights.at(0);
        for (const std::string* name : {&n.attnNorm, &n.mlpNorm, &n.o, &n.down})
            if (!model.find(*name)) throw Error(w + ": weight '" + *name + "' is missing");
        for (const auto& names : {n.qkv, n.gateUp})
            for (const auto& name : names) {
                const WeightInfo* info = model.find(name);
                if (!info || info->transposed) throw Error(w + ": weight '" + name + "' is not an [out, in] Linear");
            }
        out.push_back(std::move(n));
    }
    return out;
}

std::string biasOf(const Model& model, const std::string& weightName) {
    const std::string suffix = ".weight";
    if (weightName.size() <= suffix.size()) return {};
    const std::string b = weightName.substr(0, weightName.size() - suffix.size()) + ".bias";
    return model.find(b) ? b : std::string();
}

} // namespace qs::core
