// SPDX-License-Identifier: MIT
#include "analysis/decision_groups.h"

#include "base/error.h"
#include "quant/layer_rules.h"

#include <map>
#include <set>

namespace qs::core {

std::string groupModeName(GroupMode mode) { return mode == GroupMode::Fused ? "fused" : "each"; }

GroupMode groupModeFromName(const std::string& name, const std::string& owner) {
    if (name == "fused") return GroupMode::Fused;
    if (name == "each") return GroupMode::Each;
    throw Error(owner + ": unknown grouping '" + name + "' (known: fused, each)");
}

std::string decisionGroupName(const std::vector<std::string>& weights) {
    std::string name;
    for (const std::string& w : weights) {
        const std::string rule = ruleName(w);
        if (name.empty()) {
            name = rule;
        } else {
            const auto dot = rule.rfind('.');
            name += "+" + (dot == std::string::npos ? rule : rule.substr(dot + 1));
        }
    }
    return name;
}

std::vector<DecisionGroup> decisionGroups(const Model& model, const CausalLm& lm, GroupMode mode) {
    std::map<std::string, const WeightInfo*> quantizable;
    for (const WeightInfo& w : model.weights())
        if (w.quantizable) {
            if (w.layerIndex < 0 || w.layerIndex >= lm.numLayers())
                throw Error(model.path().string() + ": quantizable weight '" + w.name +
                            "' lies outside the decoder layers; it cannot be a decision group");
            quantizable[w.name] = &w;
        }
    std::vector<DecisionGroup> groups;
    std::set<std::string> placed;
    for (int l = 0; l < lm.numLayers(); ++l)
        for (const LinearInputSite& site : lm.layerSites(l)) {
            std::vector<const WeightInfo*> fed;
            for (const std::string& name : site.weights)
                if (const auto it = quantizable.find(name); it != quantizable.end() && placed.insert(name).second)
                    fed.push_back(it->second);
            const auto add = [&](const std::vector<const WeightInfo*>& ws) {
                DecisionGroup g;
                g.layer = l;
                for (const WeightInfo* w : ws) {
                    g.weights.push_back(w->name);
                    g.params += numel(w->shape);
                }
                g.name = decisionGroupName(g.weights);
                groups.push_back(std::move(g));
            };
            if (fed.empty()) continue;
            if (mode == GroupMode::Fused) {
                add(fed);
            } else {
                for (const WeightInfo* w : fed) add({w});
            }
        }
    for (const auto& [name, w] : quantizable)
        if (!placed.count(name))
            throw Error(model.path().string() + ": quantizable weight '" + name +
                        "' feeds no input of the forward pass; it cannot be a decision group");
    return groups;
}

} // namespace qs::core
