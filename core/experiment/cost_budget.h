// SPDX-License-Identifier: MIT
// An accelerator cost model as a mixed-precision budget: what every decision group costs with every
// candidate format (cycles or energy), so the solvers find the best plan at <= N cycles.
#pragma once
#include "analysis/candidate_formats.h"
#include "analysis/mixed_precision.h"
#include "data/calib_data.h"
#include "experiment/builtins.h"

#include <nlohmann/json.hpp>
#include <string>

namespace qs::core {

/// The cost model a budget is counted in.
struct CostBudget {
    std::string model;                                ///< registry name, e.g. "loom"
    nlohmann::json params = nlohmann::json::object(); ///< given values; defaults fill the rest
    std::string metric = "cycles";                    ///< "cycles" or "energy"
    int nativeBits = 16;                              ///< width of the (unquantized) activations
};

/// cost[g][c]: the summed `metric` of group g's weights quantized as candidate c (weight codes from the
/// candidate's spec rounded to nearest, whatever its method: a GPTQ candidate lands on the same grid),
/// activations captured once from the fp32 model on `data` at nativeBits. Throws Error for an unknown
/// model or metric; Cancelled.
GroupCosts groupCosts(const Model& model, const SensitivityResult& r, const std::vector<CandidateFormat>& candidates,
                      const CostBudget& budget, const CalibrationData& data, const Registries& registries,
                      const JobContext& job);

} // namespace qs::core
