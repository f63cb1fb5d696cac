// SPDX-License-Identifier: MIT
#include "transform/llama_layout.h"

#include "base/error.h"

namespace qs::core {

std::vector<LlamaLayerNames> llamaLayers(const CausalLm& lm, const Model& model, std::string_view who) {
    const std::string w(who);
    const ArchitectureTraits& arch = architectureTraits(model.config().arch);
    if (!arch.transformsApply())
        throw Error(
            w + ": " + std::string(arch.displayName) + " (" + std::string(arch.transformBlocker) +
            ") is not supported; the transform needs a Llama-family model (RMSNorm, q/k/v, gated MLP)");
    const WeightNames& names = arch.names;
    std::vector<LlamaLayerNames> out;
    for (int l = 0; l < lm.numLayers(); ++l) {
        const auto sites = lm.layerSites(l);
        if (sites.size() != 4 || sites[0].weights.size() != 3 || sites[2].weights.size() != 2)
            throw Error(w + ": layer " + std::to_string(l) + " is not a Llama-family layer (q/k/v, gated MLP)");
        LlamaLayerNames n;
        const std::string b = std::string(names.layerPrefix) + std::to_string(l) + ".";
        n.attnNorm = b + std::string(names.attnNorm) + ".weight";
        n.mlpNorm = b + std::string(names.mlpNorm) + ".weight";
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
