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

FrontierResult runMixedPrecision(const FrontierRequest& request, const Registries& registries, Project* project,
                                 const JobContext& job) {
    const auto start = std::chrono::steady_clock::now();
    if (request.budgets.empty()) throw Error("mixed-precision: no budget given");
    if (request.methods.empty()) throw Error("mixed-precision: no solver given");
    FrontierResult out;
    out.objective = mpObjectiveName(request.objective);
    out.sensitivity = runAnalysis(request.sensitivity, registries, project, job);
    const SensitivityResult r = sensitivityFromOutput(out.sensitivity.output);
    const std::vector<CandidateFormat> candidates = parseCandidateFormats(
        out.sensitivity.settings.at("params").at("formats").get<std::string>(), registries, "mixed-precision");
    std::vector<double> budgets = request.budgets;
    std::sort(budgets.begin(), budgets.end());
    for (MpMethod method : request.methods)
        for (double budget : budgets) {
            FrontierPoint p;
            p.method = mpMethodName(method);
            p.budget = budget;
            try {
                p.plan = planMixedPrecision(r, candidates, registries, method, budget, request.unit, request.objective,
                                            request.solve, job);
            } catch (const Error& e) {
                p.error = e.what();
            }
            out.points.push_back(std::move(p));
        }
    if (!request.evaluate) return out;

    std::unique_ptr<RecipeRunner> runner;
    runner = std::make_unique<RecipeRunner>(request.heldOut, registries, project, job);
    std::map<std::string, RecipeRunOutcome> byRecipe; // each distinct recipe evaluated once
    const RecipeCalibration calibration{request.sensitivity.setPath, request.sensitivity.windows};
    for (FrontierPoint& p : out.points) {
        if (!p.plan) continue;
        const Recipe recipe = recipeFromJson(p.plan->recipe, registries, "mixed-precision plan");
        const std::string key = recipe.canonical();
        if (!byRecipe.count(key)) byRecipe.emplace(key, runner->run(recipe, calibration, job));
        p.run = byRecipe.at(key);
        if (project && p.run->runId && out.sensitivity.id)
            project->storePlan({0, out.sensitivity.id, p.run->runId, p.method, p.budget, budgetUnitName(request.unit),
                                p.plan->toJson(r).dump()});
    }
    for (const auto& [key, o] : byRecipe)
        if (o.metrics.referencePerplexity) out.referencePerplexity = *o.metrics.referencePerplexity;
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
