// SPDX-License-Identifier: MIT
// The frontier: plans for a list of budgets from every asked method, each evaluated on held-out data
// and stored as a run, with each method's best plan within every budget.
#pragma once
#include "analysis/mixed_precision.h"
#include "experiment/analysis_run.h"
#include "experiment/cost_budget.h"
#include "experiment/recipe_run.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace qs::core {

struct FrontierRequest {
    AnalysisRequest sensitivity; ///< the "sensitivity" analysis the plans come from (re-opened when stored)
    std::vector<double> budgets;
    BudgetUnit unit = BudgetUnit::BitsPerWeight;
    MpObjective objective = MpObjective::Kld;
    std::vector<MpMethod> methods;
    MpSolveOptions solve;
    RecipeRunTarget heldOut; ///< where chosen recipes are evaluated (data the plans never saw)
    bool evaluate = true;    ///< false: plan only
    /// The cost model a BudgetUnit::Cost budget counts in (its activations are captured on the
    /// sensitivity set).
    std::optional<CostBudget> cost;
};

/// One method at one budget.
struct FrontierPoint {
    std::string method;
    double budget = 0;
    std::optional<MpPlan> plan;         ///< absent when the budget cannot be met (see error)
    std::string error;                  ///< why there is no plan
    std::optional<RecipeRunOutcome> run; ///< the plan evaluated on the held-out data
    /// The method's best measured perplexity among its plans of budgets <= this one (monotone in the
    /// budget), and the run that has it.
    std::optional<double> frontierPerplexity;
    std::int64_t frontierRunId = 0;
};

struct FrontierResult {
    AnalysisOutcome sensitivity;
    std::vector<FrontierPoint> points; ///< methods in the order asked, budgets ascending
    double referencePerplexity = 0;    ///< fp32 on the held-out data (0 when not evaluated)
    double seconds = 0;
    std::string objective; ///< "kld" or "loss"

    /// {"sensitivity": {id, reused, seconds, evaluations}, "reference_perplexity", "budgets", "unit",
    ///  "points": [{method, budget, error | plan..., perplexity, delta_perplexity, kld, run_id,
    ///  frontier_perplexity, frontier_run_id}], "seconds"}.
    nlohmann::json toJson() const;
};

/// With a project and a stored analysis: records that `plan.method` chose run `runId` under `plan.budget`.
void recordPlan(Project* project, std::int64_t analysisId, std::int64_t runId, const MpPlan& plan,
                const SensitivityResult& r);

/// Evaluates `plan` with `runner` (a finished run of the same recipe comes back as it is) and, with a
/// project and a stored analysis, records which method chose that run under `budget`.
RecipeRunOutcome evaluatePlan(RecipeRunner& runner, const MpPlan& plan, const SensitivityResult& r,
                              const RecipeCalibration& calibration, const Registries& registries, Project* project,
                              std::int64_t analysisId, const JobContext& job);

/// Runs (or re-opens) the sensitivity analysis, plans every method at every budget, evaluates each
/// distinct recipe once on the held-out data (stored as runs with the plan recorded against them when
/// there is a project). Throws Error for unusable inputs; a budget that cannot be met is reported in its
/// point, not thrown. Cancelled.
FrontierResult runMixedPrecision(const FrontierRequest& request, const Registries& registries, Project* project,
                                 const JobContext& job);

} // namespace qs::core
