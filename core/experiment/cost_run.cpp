// SPDX-License-Identifier: MIT
#include "experiment/cost_run.h"

#include "base/error.h"
#include "cost/layer_capture.h"
#include "eval/classifier_eval.h"
#include "experiment/recipe_run.h"
#include "io/array_source.h"

#include <chrono>
#include <map>
#include <set>
#include <omp.h>

namespace qs::core {
namespace {

/// The first `count` images of x (0: all).
Tensor firstImages(const Tensor& x, long long count, const std::string& spec) {
    if (x.shape().empty() || x.shape()[0] < 1) throw Error(spec + ": no images to capture activations from");
    if (count <= 0 || count >= x.shape()[0]) return x;
    Shape s = x.shape();
    const std::vector<float> all = x.toFloats();
    const std::int64_t per = numel(s) / s[0];
    s[0] = count;
    return Tensor::fromFloats(s, std::vector<float>(all.begin(), all.begin() + count * per));
}

} // namespace

AnalysisOutcome runCost(const CostRequest& request, const Registries& registries, Project* project,
                        const JobContext& job) {
    const CostModel& model = registries.costModels.get(request.costModel, "cost model");
    if (!request.model) throw Error("cost: no model");
    const Model& m = *request.model;
    const bool classifier = isClassifierModel(m);
    const nlohmann::json params = validateParams(model.params(), request.params, "cost " + request.costModel);
    if (request.dataPath.empty() && (model.needsActivations() || (!classifier && recipeNeedsCalibration(request.recipe, registries))))
        throw Error("cost " + request.costModel + ": give --calib FILE (" +
                    (classifier ? "images" : "text or tokens") + " the layers' activations are captured on)");

    AnalysisOutcome out;
    out.settings = {{"analysis", "cost"},        {"cost_model", request.costModel},
                    {"params", params},          {"recipe", request.recipe.canonical()},
                    {"ctx", request.ctx},        {"windows", request.windows},
                    {"native_bits", request.nativeBits}};
    if (request.runId) out.settings["run"] = request.runId;
    const std::string modelHash = contentHash(m.path());
    const std::string dataHash = request.dataPath.empty() ? "" : specHash(request.dataPath);
    out.manifest = {{"model", {{"path", absolutePath(m.path())}, {"hash", modelHash}}},
                    {"data", {{"path", request.dataPath.empty() ? "" : absoluteSpec(request.dataPath)}, {"hash", dataHash}}},
                    {"params", params},
                    {"program_version", QS_VERSION},
                    {"command_line", request.commandLine}};
    std::int64_t modelId = 0, datasetId = 0;
    if (project) {
        modelId = project->ensureModel({0, absolutePath(m.path()), modelHash, m.config().modelType, m.parameterCount()});
        if (!request.dataPath.empty()) datasetId = project->ensureDataset({0, absoluteSpec(request.dataPath), dataHash, 0});
        if (const auto stored = project->findAnalysis("cost", modelId, datasetId, out.settings.dump()))
            return openAnalysis(*project, stored->id);
    }

    const std::string startedAt = isoTimeNow();
    const auto start = std::chrono::steady_clock::now();
    CaptureOptions options;
    options.nativeBits = request.nativeBits;
    options.weights = model.needsWeights();
    options.activations = model.needsActivations();
    options.rowsWithoutData = static_cast<std::int64_t>(request.ctx) * std::max(1LL, request.windows);
    std::vector<LayerCost> layers;
    const LayerSink price = [&](CostLayer&& layer) { layers.push_back(model.layer(layer, params)); };
    const JobContext quiet{nullptr, job.cancel};

    CaptureSummary captured;
    if (classifier) {
        const auto& onnx = static_cast<const OnnxModel&>(m);
        const Tensor images = firstImages(readArraySpec(request.dataPath), request.windows, request.dataPath);
        std::optional<ModelQuantResult> q;
        if (request.recipe.quantizeWeights) q = quantizeModel(m, registries, request.recipe.job, quiet, true);
        std::optional<ActivationQuant> act;
        if (request.recipe.activation)
            act = staticActivationQuant(*request.recipe.activation, calibrateActivationRanges(onnx, images, 64, quiet));
        captured = captureClassifier(onnx, q ? &*q : nullptr, act, images, options, price, job);
    } else {
        CalibrationData data;
        if (!request.dataPath.empty())
            data = loadCalibrationData(request.dataPath, m.path(), request.ctx, std::max(1LL, request.windows));
        std::optional<ModelQuantResult> q;
        HeldWeights held; // each weight as codes as it is made: no float32 copy of the quantized model
        if (request.recipe.quantizeWeights)
            q = quantizeModel(m, registries, request.recipe.job, quiet, false, {}, data.windows.empty() ? nullptr : &data,
                              nullptr, [&](const std::string& name, const std::vector<float>& values) { held.add(m, name, values); });
        captured = captureLanguageModel(m, request.recipe, q ? &*q : nullptr, q ? &held : nullptr, data, options, price, job);
    }
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    out.manifest["threads"] = omp_get_max_threads();

    const nlohmann::json figures = model.modelFigures(layers, captured.context, params);
    out.output.summary = {{"cost_model", request.costModel},
                          {"mode", params.value("mode", "one reading")}, // a design without both readings
                          {"label", request.recipe.label()},
                          {"recipe", nlohmann::json::parse(request.recipe.canonical())},
                          {"total", totalCost(layers)},
                          {"figures", figures},
                          {"capture", {{"rows", captured.rows}, {"off_grid_runs", captured.offGridRuns},
                                       {"native_bits", request.nativeBits}}}};
    for (const LayerCost& l : layers) out.output.rows.emplace_back(l.name, l.toJson());
    if (project) out.id = storeAnalysisOutcome(*project, "cost", modelId, datasetId, out, startedAt, request.commandLine);
    return out;
}

nlohmann::json costJson(const AnalysisOutcome& outcome) {
    nlohmann::json j = outcome.output.summary;
    j["layers"] = nlohmann::json::array();
    for (const auto& [label, values] : outcome.output.rows) j["layers"].push_back(values);
    j["id"] = outcome.id;
    j["reused"] = outcome.reused;
    j["seconds"] = outcome.seconds;
    j["settings"] = outcome.settings;
    j["manifest"] = outcome.manifest;
    return j;
}

std::vector<CostPoint> storedCostPoints(Project& project, const std::string& costModel) {
    std::map<std::int64_t, CostPoint> byRun;
    for (const AnalysisRecord& a : project.analyses()) { // oldest first: a newer pricing replaces an older one
        if (a.kind != "cost") continue;
        const nlohmann::json settings = nlohmann::json::parse(a.settings, nullptr, false);
        if (!settings.is_object() || settings.value("cost_model", "") != costModel || !settings.contains("run")) continue;
        const auto run = project.run(settings["run"].get<std::int64_t>());
        if (!run || run->status != "finished") continue;
        const nlohmann::json summary = nlohmann::json::parse(a.summary, nullptr, false);
        if (!summary.is_object() || !summary.contains("total")) continue;
        CostPoint p;
        p.runId = run->id;
        p.analysisId = a.id;
        p.label = run->recipeLabel;
        p.speedup = summary["total"].value("speedup", 0.0);
        p.energyEfficiency = summary["total"].value("energy_efficiency", 0.0);
        p.metrics = run->metrics;
        byRun[run->id] = p;
    }
    std::vector<CostPoint> out;
    for (auto& [id, p] : byRun) out.push_back(std::move(p));
    return out;
}

std::vector<std::string> pricedCostModels(Project& project) {
    std::set<std::string> models;
    for (const AnalysisRecord& a : project.analyses()) {
        if (a.kind != "cost") continue;
        const nlohmann::json settings = nlohmann::json::parse(a.settings, nullptr, false);
        if (settings.is_object() && settings.contains("run") && settings.contains("cost_model") &&
            settings["cost_model"].is_string())
            models.insert(settings["cost_model"].get<std::string>());
    }
    return {models.begin(), models.end()};
}

} // namespace qs::core
