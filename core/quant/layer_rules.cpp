// SPDX-License-Identifier: MIT
#include "quant/layer_rules.h"

#include "base/error.h"

#include <cctype>
#include <fnmatch.h>
#include <sstream>

namespace qs::core {

std::string WeightAssignment::label() const {
    return keep ? "keep" : method + " " + spec.label();
}

bool WeightAssignment::sameEffect(const WeightAssignment& o) const {
    if (keep || o.keep) return keep == o.keep;
    // Compare the canonical JSON: fields that do not act (group outside group granularity) are
    // normalised there.
    return method == o.method && methodParams == o.methodParams &&
           normalizedSpec(spec).toJson() == normalizedSpec(o.spec).toJson();
}

bool globMatch(const std::string& pattern, const std::string& name) {
    return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

std::string ruleName(std::string_view weightName) {
    constexpr std::string_view suffix = ".weight";
    if (weightName.size() > suffix.size() && weightName.substr(weightName.size() - suffix.size()) == suffix)
        weightName.remove_suffix(suffix.size());
    return std::string(weightName);
}

WeightAssignment assignmentFor(const WeightAssignment& defaults, const std::vector<LayerRule>& rules,
                               std::string_view weightName) {
    const std::string name = ruleName(weightName);
    for (std::size_t i = rules.size(); i-- > 0;)
        if (globMatch(rules[i].match, name)) {
            WeightAssignment a = rules[i].assignment;
            a.rule = static_cast<int>(i);
            return a;
        }
    WeightAssignment a = defaults;
    a.rule = -1;
    return a;
}

nlohmann::json layerRuleToJson(const LayerRule& rule) {
    if (rule.assignment.keep) return {{"match", rule.match}, {"keep", true}};
    nlohmann::json j = normalizedSpec(rule.assignment.spec).toJson();
    j["match"] = rule.match;
    j["method"] = rule.assignment.method;
    j["method_params"] = rule.assignment.methodParams;
    return j;
}

std::vector<LayerRule> effectiveRules(const WeightAssignment& defaults, const std::vector<LayerRule>& rules) {
    std::vector<LayerRule> live;
    for (std::size_t i = 0; i < rules.size(); ++i) {
        bool shadowed = false;
        for (std::size_t k = i + 1; k < rules.size() && !shadowed; ++k)
            shadowed = rules[k].match == rules[i].match || rules[k].match == "*";
        if (shadowed) continue;
        if (live.empty() && rules[i].assignment.sameEffect(defaults)) continue;
        live.push_back(rules[i]);
    }
    return live;
}

std::string layerRuleSpecText(const nlohmann::json& rule) {
    if (!rule.is_object()) return {};
    if (rule.value("keep", false)) return "keep";
    std::string s = rule.contains("method") && rule["method"].is_string() ? rule["method"].get<std::string>() + "/" : "";
    s += rule.contains("format") && rule["format"].is_string() ? rule["format"].get<std::string>() : "default";
    if (rule.contains("granularity") && rule["granularity"].is_string()) s += ":" + rule["granularity"].get<std::string>();
    if (rule.contains("group") && rule["group"].is_number_integer()) s += ":" + std::to_string(rule["group"].get<int>());
    if (rule.contains("sym") && rule["sym"].is_boolean()) s += rule["sym"].get<bool>() ? ":sym" : ":asym";
    return s;
}

nlohmann::json conciseRules(const nlohmann::json& rules, const nlohmann::json& defaults) {
    nlohmann::json out = nlohmann::json::array();
    if (!rules.is_array()) return out;
    for (const auto& rule : rules) {
        if (!rule.is_object()) continue;
        nlohmann::json r = {{"match", rule.value("match", "")}};
        if (rule.value("keep", false)) {
            r["keep"] = true;
        } else {
            const bool grouped = rule.value("granularity", defaults.value("granularity", "")) == "group";
            for (const auto& [key, value] : rule.items()) {
                if (key == "match" || key == "keep" || (key == "group" && !grouped)) continue;
                if (!defaults.contains(key) || defaults[key] != value) r[key] = value;
            }
        }
        out.push_back(std::move(r));
    }
    return out;
}

int lastMatchingRule(const nlohmann::json& rules, std::string_view weightName) {
    if (!rules.is_array()) return -1;
    const std::string name = ruleName(weightName);
    for (std::size_t i = rules.size(); i-- > 0;)
        if (rules[i].is_object() && rules[i].contains("match") && rules[i]["match"].is_string() &&
            globMatch(rules[i]["match"].get<std::string>(), name))
            return static_cast<int>(i);
    return -1;
}

nlohmann::json specKeysFromString(const std::string& text, const std::string& owner) {
    nlohmann::json j = nlohmann::json::object();
    std::stringstream ss(text);
    std::string part;
    bool first = true;
    while (std::getline(ss, part, ':')) {
        if (first) {
            if (part.empty()) throw Error(owner + ": missing the format (e.g. int8)");
            j["format"] = part;
            first = false;
        } else if (part == "sym" || part == "asym") {
            j["sym"] = part == "sym";
        } else if (part.size() > 1 && part[0] == 'p' &&
                   (std::isdigit(static_cast<unsigned char>(part[1])) || part[1] == '.')) {
            // pNN.N: clip each scale's run to the NN.N-th percentile of |x| (DGQ's activations).
            std::size_t used = 0;
            double p = 0;
            try {
                p = std::stod(part.substr(1), &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (used != part.size() - 1) throw Error(owner + ": bad percentile '" + part + "' (e.g. p99.9)");
            j["scale"] = "percentile";
            j["percentile"] = p;
        } else if (!part.empty() && std::isdigit(static_cast<unsigned char>(part[0]))) {
            std::size_t used = 0;
            int n = 0;
            try {
                n = std::stoi(part, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (used != part.size()) throw Error(owner + ": bad group size '" + part + "'");
            j["group"] = n;
            if (!j.contains("granularity")) j["granularity"] = "group";
        } else {
            j["granularity"] = part;
        }
    }
    if (first) throw Error(owner + ": empty spec (e.g. int8:channel:sym or keep)");
    return j;
}

nlohmann::json layerRuleJsonFromFlag(const std::string& text, const std::string& flag) {
    const auto eq = text.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
        throw Error(flag + " " + text + ": expected GLOB=SPEC, e.g. '*.mlp.down_proj=int8:channel:sym' or "
                                        "'model.layers.0.*=keep'");
    const std::string glob = text.substr(0, eq), spec = text.substr(eq + 1);
    if (spec == "keep") return {{"match", glob}, {"keep", true}};
    nlohmann::json j = specKeysFromString(spec, flag + " " + text);
    j["match"] = glob;
    return j;
}

} // namespace qs::core
