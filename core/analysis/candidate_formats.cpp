// SPDX-License-Identifier: MIT
#include "analysis/candidate_formats.h"

#include "base/error.h"
#include "quant/layer_rules.h"
#include "quant/recipe.h"

#include <set>
#include <sstream>

namespace qs::core {

WeightAssignment CandidateFormat::assignment() const {
    if (keep) {
        WeightAssignment a;
        a.keep = true;
        return a;
    }
    return job.defaults();
}

nlohmann::json CandidateFormat::ruleKeys() const {
    nlohmann::json keys = layerRuleToJson(LayerRule{"*", assignment()});
    keys.erase("match");
    return keys;
}

CandidateFormat parseCandidateFormat(const std::string& text, const MethodRegistries& registries,
                                     const std::string& owner) {
    CandidateFormat c;
    c.text = text;
    const std::string where = owner + ": candidate '" + text + "'";
    if (text == "keep") {
        c.keep = true;
        return c;
    }
    std::string method = "rtn", spec = text;
    if (const auto slash = text.find('/'); slash != std::string::npos) {
        method = text.substr(0, slash);
        spec = text.substr(slash + 1);
    }
    if (method.find('+') != std::string::npos)
        throw Error(where + ": transforms act on the whole model, not on one group (give a method alone)");
    nlohmann::json flat = specKeysFromString(spec, where);
    flat["method"] = method;
    c.job = recipeFromFlatKeys(flat, registries, where).job;
    return c;
}

std::vector<CandidateFormat> parseCandidateFormats(const std::string& list, const MethodRegistries& registries,
                                                   const std::string& owner) {
    std::vector<CandidateFormat> out;
    std::set<std::string> seen;
    std::stringstream ss(list);
    std::string item;
    while (std::getline(ss, item, ',')) {
        if (item.empty()) continue;
        CandidateFormat c = parseCandidateFormat(item, registries, owner);
        const std::string key = c.keep ? "keep" : c.assignment().label();
        if (!seen.insert(key).second) throw Error(owner + ": candidate '" + item + "' is given twice");
        out.push_back(std::move(c));
    }
    if (out.empty())
        throw Error(owner + ": no candidate formats (e.g. int4:group:32:asym,int8:channel:sym)");
    return out;
}

} // namespace qs::core
