// SPDX-License-Identifier: MIT
#include "evaluate_job.h"

#include "analysis/histogram.h"
#include "calib/calib_data.h"
#include "engine/model_jobs.h"
#include "eval/token_data.h"
#include "nn/causal_lm.h"
#include "store/run_arrays.h"
#include "store/sweep.h"
#include "tensor/error.h"
#include "tensor/tensor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>

namespace qs::gui {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string absoluteText(const std::filesystem::path& p) {
    return std::filesystem::absolute(p).lexically_normal().string();
}

// The finished run of `recipe` under `evalKey` for this model and data, if the project has one.
std::optional<core::RunRecord> findRun(core::Project& project, std::int64_t modelId, std::int64_t datasetId,
                                       const std::string& evalKey, const std::string& recipe) {
    if (!project.finishedRecipes(modelId, datasetId, evalKey).count(recipe)) return std::nullopt;
    for (auto& r : project.runs())
        if (r.status == "finished" && r.recipe == recipe && r.modelId == modelId &&
            r.datasetId == datasetId && r.evalSettings == evalKey)
            return r;
    return std::nullopt;
}

} // namespace

double EvaluateOutcome::deltaPerplexity() const {
    return metrics.perplexity && metrics.referencePerplexity
               ? *metrics.perplexity - *metrics.referencePerplexity
               : 0.0;
}

EvaluateOutcome evaluateRecipe(const EvaluateRequest& req, const core::Registries& registries,
                               core::Project* project, const core::JobContext& ctx) {
    if (!req.model) throw core::Error("evaluate: no model is open");
    const core::Model& model = *req.model;
    const auto start = Clock::now();
    EvaluateOutcome out;
    out.label = req.recipe.label();
    out.recipe = req.recipe.canonical();

    const core::Quantizer* method =
        req.recipe.quantizeWeights ? registries.quantizers.find(req.recipe.job.method) : nullptr;
    if (req.recipe.quantizeWeights && !method)
        throw core::Error("evaluate: unknown method '" + req.recipe.job.method + "'");
    const bool calibrated = method && method->needsCalibration();
    if (calibrated && req.calib.empty())
        throw core::Error("evaluate: method " + req.recipe.job.method + " needs calibration data");

    ctx.step(0, 0, "reading " + req.data.filename().string());
    const std::vector<std::int32_t> tokens = core::readTokenData(req.data, model, out.dataSource);
    const long long windows = static_cast<long long>(core::splitWindows(tokens, req.eval).size());

    // The sweep's keys: calibration belongs to the settings of calibrated recipes only.
    const std::string refKey = core::evalSettingsKey(req.eval, "", 0);
    out.evalSettings = core::evalSettingsKey(req.eval, calibrated ? req.calib.string() : std::string(),
                                             calibrated ? req.calibWindows : 0);

    std::int64_t modelId = 0, datasetId = 0;
    if (project) {
        ctx.step(0, 0, "hashing model and data");
        core::ModelRecord mr;
        mr.path = absoluteText(model.path());
        mr.hash = core::contentHash(model.path());
        mr.architecture = model.config().modelType;
        mr.parameters = model.parameterCount();
        modelId = project->ensureModel(mr);
        datasetId = project->ensureDataset({0, absoluteText(req.data), core::contentHash(req.data),
                                            static_cast<std::int64_t>(tokens.size())});
        if (auto existing = findRun(*project, modelId, datasetId, out.evalSettings, out.recipe)) {
            out.reused = true;
            out.runId = existing->id;
            out.metrics = existing->metrics;
            out.seconds = existing->seconds;
            if (auto ref = findRun(*project, modelId, datasetId, refKey, "{}")) out.referenceRunId = ref->id;
            return out;
        }
    }

    // One progress scale: quantized layers first, then evaluation windows.
    long long layerSteps = 0;
    if (req.recipe.quantizeWeights)
        for (const auto& w : model.weights())
            layerSteps += w.quantizable ? 1 : 0;
    const long long total = layerSteps + windows;

    const auto quantStart = core::isoTimeNow();
    std::map<std::string, std::vector<float>> replaced;
    std::shared_ptr<const core::TransformedModel> transformed; // set when the recipe has transforms
    core::NewRun run;
    if (req.recipe.quantizeWeights) {
        std::optional<core::CalibrationData> calib;
        if (calibrated) {
            ctx.step(0, total, "reading calibration data " + req.calib.filename().string());
            calib = core::loadCalibrationData(req.calib, model, req.eval.ctx, req.calibWindows);
        }
        const core::JobContext quantCtx{[&](long long d, long long t, const std::string& m) {
                                            if (ctx.progress)
                                                ctx.progress(t > 0 ? d * layerSteps / t : 0, total, m);
                                        },
                                        ctx.cancel};
        core::ModelQuantResult q = core::quantizeModel(model, registries, req.recipe.job, quantCtx, true, {},
                                                       calib ? &*calib : nullptr);
        core::addQuantizedLayers(model, q, run);
        run.metrics.bitsPerWeight = q.bitsPerWeight;
        run.metrics.modelBytes = q.modelBitsPerWeight * static_cast<double>(q.totalParams) / 8.0;
        out.modelBitsPerWeight = q.modelBitsPerWeight;
        replaced = std::move(q.weights);
        transformed = q.transformed;
    }

    const core::CausalLm reference(model, {}, core::JobContext{nullptr, ctx.cancel});
    core::CausalLm candidate(reference, std::move(replaced));
    const core::ForwardHooks userHooks{req.recipe.activation, req.recipe.kvCache};
    candidate.setHooks(transformed ? transformed->hooks(userHooks) : userHooks); // online rotations too
    const core::JobContext evalCtx{[&](long long d, long long, const std::string& m) {
                                       if (ctx.progress) ctx.progress(layerSteps + d, total, m);
                                   },
                                   ctx.cancel};
    const core::ComparisonResult c =
        core::compareWithReference(reference, candidate, tokens, req.eval, evalCtx);
    run.metrics.perplexity = c.candidate.perplexity;
    run.metrics.referencePerplexity = c.reference.perplexity;
    run.metrics.kldMean = c.kld.mean;
    run.metrics.kldP99 = c.kld.p99;
    run.metrics.top1Agreement = c.kld.top1Agreement;
    out.metrics = run.metrics;
    out.seconds = secondsSince(start);
    ctx.checkCancel(); // the last point where a cancel leaves the project untouched
    if (!project) return out;

    const std::int64_t provenanceId = project->addProvenance(req.commandLine);
    if (auto ref = findRun(*project, modelId, datasetId, refKey, "{}")) {
        out.referenceRunId = ref->id;
    } else {
        // The fp32 figures of the comparison are evaluatePerplexity's (same windows, same summation).
        core::NewRun r;
        r.recipe = "{}";
        r.recipeLabel = "fp32";
        r.modelId = modelId;
        r.datasetId = datasetId;
        r.provenanceId = provenanceId;
        r.evalSettings = refKey;
        r.startedAt = quantStart;
        r.finishedAt = core::isoTimeNow();
        r.seconds = c.reference.seconds;
        r.metrics.perplexity = c.reference.perplexity;
        r.metrics.referencePerplexity = c.reference.perplexity;
        double bits = 0;
        for (const auto& w : model.weights())
            bits += static_cast<double>(core::numel(w.shape)) * 8.0 *
                    static_cast<double>(core::dtypeSize(w.dtype));
        r.metrics.modelBytes = bits / 8.0;
        r.metrics.bitsPerWeight = bits / static_cast<double>(model.parameterCount());
        out.referenceRunId = project->storeRun(r).value_or(0);
        if (!out.referenceRunId)
            if (auto again = findRun(*project, modelId, datasetId, refKey, "{}"))
                out.referenceRunId = again->id;
    }

    run.recipe = out.recipe;
    run.recipeLabel = out.label;
    run.modelId = modelId;
    run.datasetId = datasetId;
    run.provenanceId = provenanceId;
    run.evalSettings = out.evalSettings;
    run.startedAt = quantStart;
    run.finishedAt = core::isoTimeNow();
    run.seconds = out.seconds;
    if (auto id = project->storeRun(run)) {
        out.runId = *id;
    } else if (auto other = findRun(*project, modelId, datasetId, out.evalSettings, out.recipe)) {
        out.runId = other->id; // another process stored the same run meanwhile
        out.reused = true;
    }
    return out;
}

} // namespace qs::gui
