// SPDX-License-Identifier: MIT
// Per-layer rules of a recipe: which weights a rule names and what it does to them.
#pragma once
#include "quant/quant_spec.h"

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace qs::core {

/// What happens to one weight: left at its stored value, or quantized by `method` with `spec`.
struct WeightAssignment {
    bool keep = false;
    std::string method = "rtn";
    QuantSpec spec;
    nlohmann::json methodParams = nlohmann::json::object();
    int rule = -1; ///< the deciding rule's index in the recipe, -1 for the default

    /// "keep" or "rtn int8 sym channel".
    std::string label() const;
    /// Same effect on the weight (the deciding rule is not compared).
    bool sameEffect(const WeightAssignment& o) const;
};

/// One rule of a recipe's "layers" list, resolved against the recipe's default: the rule's unnamed
/// fields are the default's (a different method starts from its own parameter defaults).
struct LayerRule {
    std::string match;           ///< shell glob on the weight name without ".weight"
    WeightAssignment assignment; ///< what the rule makes of a weight it matches
};

/// fnmatch-style glob (case-sensitive; '*' also matches '.'; '?', '[a-z]', '[!x]').
bool globMatch(const std::string& pattern, const std::string& name);

/// The name rules match: `weightName` without a trailing ".weight".
std::string ruleName(std::string_view weightName);

/// The assignment of weight `weightName`: the last rule that matches it, else the default.
WeightAssignment assignmentFor(const WeightAssignment& defaults, const std::vector<LayerRule>& rules,
                               std::string_view weightName);

/// Rule `rule` as canonical JSON ({"match", "keep": true} or {"match", every weight key filled}).
nlohmann::json layerRuleToJson(const LayerRule& rule);

/// The rules the canonical form keeps: a rule followed by one with the same match (or "*") never
/// decides, and a leading rule equal to the default changes nothing; both are dropped, order kept.
std::vector<LayerRule> effectiveRules(const WeightAssignment& defaults, const std::vector<LayerRule>& rules);

/// Parses the value of `--layer GLOB=SPEC`: SPEC is "keep" or the --act-quant syntax
/// FORMAT[:tensor|channel|group|block][:N][:sym|asym][:pNN.N]. Returns the rule's JSON
/// ({"match", "keep": true} or {"match", and only the keys SPEC names}). Throws Error naming `flag`.
nlohmann::json layerRuleJsonFromFlag(const std::string& text, const std::string& flag = "--layer");

/// The SPEC of a rule object in --layer's syntax ("keep", "int8:channel:sym", "gptq/int4:group:32" when
/// it names a method): what a table shows for a weight the rule decides.
std::string layerRuleSpecText(const nlohmann::json& rule);

/// `rules` (canonical rule objects, every field filled, as a stored recipe holds them) with only what each
/// rule changes from `defaults` (the recipe's default: method, method_params, format, granularity, group,
/// sym, ...): the rules a user would have written, e.g. {"match": "*.down_proj", "format": "int8",
/// "granularity": "channel"}. A group outside group granularity is left out (it does not act). The result
/// resolves to the same assignments as `rules`.
nlohmann::json conciseRules(const nlohmann::json& rules, const nlohmann::json& defaults);

/// Index of the last rule object of `rules` (a "layers" array, unresolved) whose glob matches weight
/// `weightName`, or -1.
int lastMatchingRule(const nlohmann::json& rules, std::string_view weightName);

/// The keys the spec text FORMAT[:granularity][:N][:sym|asym][:pNN.N] names, as recipe JSON
/// (format, granularity, group, sym, scale, percentile); the one parser of activation, KV and layer
/// specs. Throws Error prefixed by `owner`.
nlohmann::json specKeysFromString(const std::string& text, const std::string& owner);

} // namespace qs::core
