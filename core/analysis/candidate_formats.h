// SPDX-License-Identifier: MIT
// The options a mixed-precision plan chooses from for every decision group.
#pragma once
#include "quant/method_registries.h"
#include "quant/model_quantizer.h"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace qs::core {

/// One candidate: "keep" (the stored weights) or [METHOD/]SPEC in the --act-quant syntax,
/// e.g. "int4:group:32:asym" (RTN) or "gptq/int3:group:128".
struct CandidateFormat {
    std::string text; ///< as given
    bool keep = false;
    QuantJob job;     ///< method, spec and method parameters (unused when keep)

    /// What a recipe's layer rule for a weight of this candidate holds besides "match": {"keep": true}
    /// or every weight key of the candidate (method, method_params, format, granularity, ...).
    nlohmann::json ruleKeys() const;
    /// WeightAssignment of a weight that takes this candidate.
    WeightAssignment assignment() const;
};

/// Parses one candidate; throws Error prefixed by `owner` for a bad spec or unknown method. A method
/// with transforms ("rotate+gptq/...") is refused: transforms act on the whole model.
CandidateFormat parseCandidateFormat(const std::string& text, const MethodRegistries& registries,
                                     const std::string& owner);

/// Parses a comma-separated list (at least one, no repeats).
std::vector<CandidateFormat> parseCandidateFormats(const std::string& list, const MethodRegistries& registries,
                                                   const std::string& owner);

} // namespace qs::core
