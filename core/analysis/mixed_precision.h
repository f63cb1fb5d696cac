// SPDX-License-Identifier: MIT
// Per-group format plans under a budget, from a sensitivity result: CLADO's quadratic program beside
// the additive methods production tools use (../shared/specs/analysis.md 1.2-1.5).
#pragma once
#include "analysis/candidate_formats.h"
#include "analysis/mp_solver.h"
#include "analysis/sensitivity.h"
#include "quant/method_registries.h"

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace qs::core {

/// Where a plan comes from.
enum class MpMethod {
    Clado,    ///< measured singles + measured pair terms, the exact IQP (CLADO)
    Ilp,      ///< HAWQ-V3: tr(H)/n * ||dW||^2 per group, additive, exact
    Additive, ///< ModelOpt auto_quantize's forward-only score: per-group KL, monotone in bits, additive, exact
    Gradient, ///< ModelOpt auto_quantize's default score: Σ(∂L/∂Y)²(ΔY)², monotone in bits, additive, exact
    Greedy,   ///< measured singles, additive, greedy upgrades by loss per bit
    Uniform,  ///< one candidate for every group: the best measured one within the budget
};

/// "clado", "ilp", "additive", "gradient", "greedy", "uniform".
std::string mpMethodName(MpMethod m);
/// Parses a comma-separated list of names; "all" = every method. Throws Error naming `owner`.
std::vector<MpMethod> mpMethodsFromList(const std::string& list, const std::string& owner);

/// What CLADO and greedy minimise: the measured change of mean NLL, or the mean KL to the float model
/// (label-free; on a small sensitivity set the NLL change of a mild format is mostly noise).
enum class MpObjective { Loss, Kld };
/// "loss" / "kld".
std::string mpObjectiveName(MpObjective o);
MpObjective mpObjectiveFromName(const std::string& name, const std::string& owner);

/// How a budget is counted.
enum class BudgetUnit {
    BitsPerWeight, ///< average bits per weight over the decision groups (scales and zero points included)
    Bytes,         ///< total bytes of the decision groups' weights
    Cost,          ///< a custom per-group figure (an accelerator cost model's cycles or energy): GroupCosts
};

/// cost[g][c] of a custom budget: what group g costs with candidate c (e.g. cycles on Loom), summed
/// over the groups the same way bits are. Needed whenever the unit is BudgetUnit::Cost.
using GroupCosts = std::vector<std::vector<double>>;
/// "bpw" / "bytes" / "cost".
std::string budgetUnitName(BudgetUnit u);
BudgetUnit budgetUnitFromName(const std::string& name, const std::string& owner);

/// One plan: a candidate index per group.
struct MpPlan {
    std::string method;
    double budget = 0; ///< as given, in `unit`
    BudgetUnit unit = BudgetUnit::BitsPerWeight;
    std::vector<int> choice;
    double bitsPerWeight = 0;      ///< of the plan, over the decision groups
    double cost = 0;               ///< of the plan in the budget's unit (BudgetUnit::Cost: the custom figure)
    double predictedDeltaLoss = 0; ///< CLADO's model (singles + measured pairs) of the plan: comparable across methods
    double additiveDeltaLoss = 0;  ///< the sum of the measured singles alone
    double predictedKld = 0;       ///< CLADO's model of the plan's mean KL (0 without pair terms: singles only)
    MpSolution solution;           ///< what the method's solver reported (its own objective)
    nlohmann::json recipe;         ///< the plan as a recipe (default = the most used candidate, a rule per other weight)

    /// {"method", "budget", "unit", "bits_per_weight", "predicted_delta_loss", "additive_delta_loss",
    ///  "objective", "bound", "gap", "optimal", "solve_seconds", "nodes", "choices": {group: candidate}, "recipe"}.
    nlohmann::json toJson(const SensitivityResult& r) const;
};

/// The smallest and largest plan (every group at its cheapest / dearest candidate), in `unit`
/// (`custom`: the costs of BudgetUnit::Cost).
std::pair<double, double> planRange(const SensitivityResult& r, BudgetUnit unit, const GroupCosts* custom = nullptr);

/// The budget in the cost unit of the problem (total bits of the decision groups; BudgetUnit::Cost: as given).
double budgetBits(const SensitivityResult& r, double budget, BudgetUnit unit);

/// Plans `method` under `budget` (`custom`: the costs of BudgetUnit::Cost). Throws Error when the method
/// lacks what it needs (CLADO without pair terms, ILP without HAWQ scores, gradient without gradient scores) or the budget cannot be met
/// ("budget 2.5 bpw is below the smallest plan, 3.5 bpw").
MpPlan planMixedPrecision(const SensitivityResult& r, const std::vector<CandidateFormat>& candidates,
                          const MethodRegistries& registries, MpMethod method, double budget, BudgetUnit unit,
                          MpObjective objective = MpObjective::Kld, const MpSolveOptions& options = {},
                          const JobContext& job = {}, const GroupCosts* custom = nullptr);

/// The recipe of a choice: the default is the candidate covering the most parameters (not "keep"),
/// every weight of a group choosing another candidate gets a rule. Validated against `registries`.
nlohmann::json planRecipe(const SensitivityResult& r, const std::vector<CandidateFormat>& candidates,
                          const std::vector<int>& choice, const MethodRegistries& registries);

} // namespace qs::core
