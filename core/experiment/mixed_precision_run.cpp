// SPDX-License-Identifier: MIT
#include "experiment/mixed_precision_run.h"

#include "analysis/sensitivity_analysis.h"
#include "base/error.h"
#include "quant/recipe.h"

#include <algorithm>
#include <chrono>
#include <map>

namespace qs::core {

nlohmann::json FrontierResult::toJson() const {
    nlohmann::json pts = nlohmann::json::array();
    const SensitivityResult r = sensitivityFromOutput(sensitivity.output);
    for (const FrontierPoint& p : points) {
        nlohmann::json j = p.plan ? p.plan->toJson(r) : nlohmann::json{{"method", p.method}, {"budget", p.budget}};
        if (!p.error.empty()) j["error"] = p.error;
        if (p.run) {
            const RunMetrics& m = p.run->metrics;
            j["run_id"] = p.run->runId;
            j["reused"] = p.run->reused;
            if (m.perplexity) j["perplexity"] = *m.perplexity;
            j["delta_perplexity"] = p.run->deltaPerplexity();
            if (m.kldMean) j["kld"] = *m.kldMean;
            if (m.bitsPerWeight) j["measured_bits_per_weight"] = *m.bitsPerWeight;
        }
        if (p.frontierPerplexity) {
            j["frontier_perplexity"] = *p.frontierPerplexity;
            j["frontier_run_id"] = p.frontierRunId;
        }
        pts.push_back(std::move(j));
    }
    const nlohmann::json& s = sensitivity.output.summary;
    return {{"sensitivity",
             {{"id", sensitivity.id}, {"reused", sensitivity.reused}, {"seconds", sensitivity.seconds},
              {"evaluations", s.value("evaluations", 0)}, {"pairs_measured", r.pairsMeasured}}},
            {"reference_perplexity", referencePerplexity},
            {"objective", objective},
            {"points", std::move(pts)},
            {"seconds", seconds}};
}

RecipeRunOutcome evaluatePlan(RecipeRunner& runner, const MpPlan& plan, const SensitivityResult& r,
                              const RecipeCalibration& calibration, const Registries& registries, Project* project,
                              std::int64_t analysisId, const JobContext& job) {
    RecipeRunOutcome run = runner.run(recipeFromJson(plan.recipe, registries, "mixed-precision plan"), calibration, job);
    recordPlan(project, analysisId, run.runId, plan, r);
    return run;
}

void recordPlan(Project* project, std::int64_t analysisId, std::int64_t runId, const MpPlan& plan,
                const SensitivityResult& r) {
    if (project && runId && analysisId)
        project->storePlan({0, analysisId, runId, plan.method, plan.budget, budgetUnitName(plan.unit),
                            plan.toJson(r).dump()});
}

FrontierResult runMixedPrecision(const FrontierRequest& request, const Registries& registries, Project* project,
                                 const JobContext& job) {
    const auto start = std::chrono::steady_clock::now();
    if (request.budgets.empty()) throw Error("mixed-precision: no budget given");
    if (request.methods.empty()) throw Error("mixed-precision: no solver given");
    const auto lowMemory = request.sensitivity.params.find("low_memory");
    if (request.evaluate && lowMemory != request.sensitivity.params.end() && lowMemory->is_boolean() && lowMemory->get<bool>())
        throw Error("mixed-precision: --low-memory measures the sensitivity one layer at a time, but evaluating "
                    "the plans holds the whole model; add --no-eval, then evaluate a plan's recipe (in the JSON) "
                    "with 'eval --low-memory --recipe PLAN.json'");
    FrontierResult out;
    out.objective = mpObjectiveName(request.objective);
    out.sensitivity = runAnalysis(request.sensitivity, registries, project, job);
    const SensitivityResult r = sensitivityFromOutput(out.sensitivity.output);
    const std::vector<CandidateFormat> candidates = parseCandidateFormats(
        out.sensitivity.settings.at("params").at("formats").get<std::string>(), registries, "mixed-precision");
    std::optional<GroupCosts> custom;
    if (request.unit == BudgetUnit::Cost) {
        if (!request.cost) throw Error("mixed-precision: a cost budget needs a cost model (--cost-model NAME)");
        const AnalysisRequest& set = request.sensitivity;
        custom = groupCosts(*set.model, r, candidates, *request.cost,
                            loadCalibrationData(set.setPath, set.model->path(), set.ctx, set.windows), registries, job);
    }
    std::vector<double> budgets = request.budgets;
    std::sort(budgets.begin(), budgets.end());
    for (MpMethod method : request.methods)
        for (double budget : budgets) {
            FrontierPoint p;
            p.method = mpMethodName(method);
            p.budget = budget;
            try {
                p.plan = planMixedPrecision(r, candidates, registries, method, budget, request.unit, request.objective,
                                            request.solve, job, custom ? &*custom : nullptr);
            } catch (const Error& e) {
                p.error = e.what();
            }
            out.points.push_back(std::move(p));
        }
    if (!request.evaluate) return out;

    RecipeRunner runner(request.heldOut, registries, project, job);
    const RecipeCalibration calibration{request.sensitivity.setPath, request.sensitivity.windows};
    std::map<std::string, RecipeRunOutcome> byRecipe; // a recipe several methods chose is evaluated once
    for (FrontierPoint& p : out.points) {
        if (!p.plan) continue;
        const std::string key = p.plan->recipe.dump();
        if (const auto it = byRecipe.find(key); it != byRecipe.end()) {
            p.run = it->second;
            recordPlan(project, out.sensitivity.id, p.run->runId, *p.plan, r);
        } else {
            p.run = byRecipe[key] =
                evaluatePlan(runner, *p.plan, r, calibration, registries, project, out.sensitivity.id, job);
        }
        if (p.run->metrics.referencePerplexity) out.referencePerplexity = *p.run->metrics.referencePerplexity;
    }
    // Each method's frontier: its best measured plan within each budget (budgets ascend per method).
    std::map<std::string, std::pair<double, std::int64_t>> best;
    for (FrontierPoint& p : out.points) {
        if (p.run && p.run->metrics.perplexity) {
            const double ppl = *p.run->metrics.perplexity;
            const auto it = best.find(p.method);
            if (it == best.end() || ppl < it->second.first) best[p.method] = {ppl, p.run->runId};
        }
        if (const auto it = best.find(p.method); it != best.end()) {
            p.frontierPerplexity = it->second.first;
            p.frontierRunId = it->second.second;
        }
    }
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
}

} // namespace qs::core
