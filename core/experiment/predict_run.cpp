// SPDX-License-Identifier: MIT
#include "experiment/predict_run.h"

#include "base/error.h"
#include "experiment/sweep.h"
#include "model/model.h"
#include "quant/recipe.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

namespace qs::core {

long long fillPredictRequest(AnalysisRequest& request, Project& project, const Registries& registries,
                             const std::string& modelPath, const nlohmann::json* grid, const std::string& dataPath) {
    request.name = "predict";
    const std::string target = request.params.value("target", "delta_nll");
    const std::string where = project.path().string();

    // The model: the one named, else the one with the most finished runs.
    const std::vector<RunRecord> runs = project.runs();
    std::map<std::int64_t, int> runsOf;
    for (const auto& r : runs)
        if (r.status == "finished") ++runsOf[r.modelId];
    std::int64_t modelId = 0;
    for (const auto& [id, count] : runsOf) {
        std::error_code ec;
        if (modelPath.empty() ? (!modelId || count > runsOf[modelId])
                              : std::filesystem::equivalent(project.model(id).path, modelPath, ec))
            modelId = id;
    }
    if (!modelId)
        throw Error("predict: " + where + " holds no finished run" + (modelPath.empty() ? "" : " of " + modelPath));
    request.model = openModel(project.model(modelId).path);

    // Training rows: the newest finished run of each recipe, with its target.
    std::map<std::string, const RunRecord*> newest;
    std::map<std::int64_t, int> datasetUse;
    double referencePerplexity = 0;
    for (const auto& r : runs) {
        if (r.status != "finished" || r.modelId != modelId) continue;
        ++datasetUse[r.datasetId];
        if (r.metrics.referencePerplexity) referencePerplexity = *r.metrics.referencePerplexity;
        if (r.recipe != "{}") newest[r.recipe] = &r;
    }
    nlohmann::json training = nlohmann::json::array();
    std::set<std::string> evaluated;
    for (const auto& [recipe, r] : newest) {
        std::optional<double> y;
        if (target == "kld")
            y = r->metrics.kldMean;
        else if (r->metrics.perplexity && r->metrics.referencePerplexity)
            y = std::log(*r->metrics.perplexity / *r->metrics.referencePerplexity);
        if (!y || !std::isfinite(*y)) continue; // no figure, or a model destroyed past float range
        const nlohmann::json j = nlohmann::json::parse(recipe);
        if (!recipeFromJson(j, registries, where + " run " + std::to_string(r->id)).quantizeWeights)
            continue; // activation/KV-only recipes: no weight error to describe
        training.push_back({{"recipe", j}, {"target", *y}, {"label", r->recipeLabel}});
        evaluated.insert(recipe);
    }
    // Candidates: the grid's valid recipes not evaluated yet.
    nlohmann::json candidates = nlohmann::json::array();
    long long skipped = 0;
    if (grid)
        for (const SweepPoint& point : expandGrid(*grid, registries)) {
            if (!point.recipe || !point.recipe->quantizeWeights) continue;
            if (evaluated.count(point.recipe->canonical())) {
                ++skipped;
                continue;
            }
            candidates.push_back(point.recipe->toJson());
        }
    request.params["training"] = training.dump();
    request.params["candidates"] = candidates.dump();
    request.params["reference_perplexity"] = referencePerplexity;
    if (!dataPath.empty()) {
        request.setPath = dataPath;
    } else {
        std::int64_t datasetId = 0;
        for (const auto& [id, count] : datasetUse)
            if (!datasetId || count > datasetUse[datasetId]) datasetId = id;
        request.setPath = project.dataset(datasetId).path;
    }
    return skipped;
}

SweepOrder sweepOrderFromName(const std::string& name, const std::string& owner) {
    if (name == "grid") return SweepOrder::Grid;
    if (name == "promising") return SweepOrder::Promising;
    if (name == "uncertain") return SweepOrder::Uncertain;
    throw Error(owner + ": unknown order '" + name + "' (known: grid, promising, uncertain)");
}

std::vector<SweepPoint> orderSweepPoints(std::vector<SweepPoint> points, const nlohmann::json& predictions,
                                         SweepOrder order, const Registries& registries) {
    if (order == SweepOrder::Grid) return points;
    if (!predictions.is_array()) throw Error("sweep order: the predictions are not a list");
    // Sort key per recipe: lower runs first.
    std::map<std::string, double> key;
    for (const auto& p : predictions) {
        if (!p.is_object() || !p.contains("recipe"))
            throw Error("sweep order: a prediction without its recipe: " + p.dump().substr(0, 200));
        const std::string field = order == SweepOrder::Promising ? "predicted" : "uncertainty";
        const nlohmann::json& value = p.contains(field) ? p.at(field) : nlohmann::json();
        if (!value.is_number()) throw Error("sweep order: a prediction without a number \"" + field + "\"");
        const double v = value.get<double>();
        key[recipeFromJson(p.at("recipe"), registries, "sweep order").canonical()] = order == SweepOrder::Promising ? v : -v;
    }
    const auto keyOf = [&](const SweepPoint& point) -> std::optional<double> {
        if (!point.recipe) return std::nullopt;
        const auto it = key.find(point.recipe->canonical());
        return it == key.end() ? std::nullopt : std::optional<double>(it->second);
    };
    std::stable_sort(points.begin(), points.end(), [&](const SweepPoint& a, const SweepPoint& b) {
        const std::optional<double> ka = keyOf(a), kb = keyOf(b);
        if (ka && kb) return *ka < *kb;
        return ka.has_value() && !kb.has_value(); // predicted before unpredicted
    });
    return points;
}

} // namespace qs::core
