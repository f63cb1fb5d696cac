// SPDX-License-Identifier: MIT
#include "experiment/recipe_run.h"

#include "statistics/histogram.h"
#include "data/calib_data.h"
#include "data/token_data.h"
#include "io/array_source.h"
#include "io/hdf5_file.h"
#include "model/onnx_model.h"
#include "eval/window_scores.h"
#include "nn/causal_lm.h"
#include "store/run_arrays.h"
#include "base/error.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

namespace qs::core {
namespace {

using Clock = std::chrono::steady_clock;

const OnnxModel& onnxOf(const Model& model) {
    return dynamic_cast<const OnnxModel&>(model);
}

// What the forward hooks of a recipe without transforms do, as text (part of the residual keys).
std::string hooksKey(const std::optional<QuantSpec>& activation, const std::optional<QuantSpec>& kvCache,
                     bool bf16Products) {
    return (activation ? activation->toJson().dump() : "-") + "|" + (kvCache ? kvCache->toJson().dump() : "-") +
           (bf16Products ? "|bf16" : "");
}

} // namespace

struct RecipeRunner::Figures {
    RunMetrics reference; ///< fp32 on the same data
    double referenceSeconds = 0;
    double modelBitsPerWeight = 0;
};

double RecipeRunOutcome::deltaPerplexity() const {
    return metrics.perplexity && metrics.referencePerplexity
               ? *metrics.perplexity - *metrics.referencePerplexity
               : 0.0;
}

std::string evalSettingsKey(const EvalOptions& eval, const std::string& calib, long long calibWindows) {
    nlohmann::json j{{"ctx", eval.ctx}, {"windows", eval.maxWindows}};
    if (eval.bf16Products) j["compute"] = "bf16"; // float32 runs keep the keys they always had
    if (!calib.empty()) {
        j["calib"] = absolutePath(calib);
        j["calib_windows"] = calibWindows;
    }
    return j.dump();
}

std::string evalSettingsText(const std::string& key) {
    const nlohmann::json j = nlohmann::json::parse(key, nullptr, false);
    if (!j.is_object()) return key;
    const auto file = [](const nlohmann::json& v) {
        return v.is_string() ? std::filesystem::path(v.get<std::string>()).filename().string() : v.dump();
    };
    std::vector<std::string> parts;
    for (const auto& [k, v] : j.items()) {
        if (k == "ctx" && v.is_number_integer())
            parts.push_back("context " + std::to_string(v.get<long long>()) + " tokens");
        else if (k == "windows" && v.is_number_integer())
            parts.push_back(v.get<long long>() == 0 ? "all windows" : "first " + std::to_string(v.get<long long>()) + " windows");
        else if (k == "calib")
            parts.push_back("calibration " + file(v) +
                            (j.contains("calib_windows") && j["calib_windows"].is_number_integer()
                                 ? ", " + std::to_string(j["calib_windows"].get<long long>()) + " windows"
                                 : std::string()));
        else if (k == "labels")
            parts.push_back(v.is_string() && v.get<std::string>().empty() ? "no labels" : "labels " + file(v));
        else if (k != "calib_windows")
            parts.push_back(k + " " + (v.is_string() ? v.get<std::string>() : v.dump()));
    }
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : " · ") + p;
    return out;
}

bool isClassifierModel(const Model& model) {
    return dynamic_cast<const OnnxModel*>(&model) != nullptr;
}

std::string recipeRunSettingsKey(const RecipeRunTarget& target, const Recipe& recipe,
                                 const RecipeCalibration& calib, const Registries& registries) {
    if (target.model && isClassifierModel(*target.model)) {
        // Images are the dataset; labels and static activation scales' images are settings.
        nlohmann::json j{{"labels", target.labels.empty() ? std::string() : absoluteSpec(target.labels)}};
        if (recipe.activation && !calib.path.empty()) j["calib"] = absoluteSpec(calib.path);
        return j.dump();
    }
    const bool used = recipeNeedsCalibration(recipe, registries);
    return evalSettingsKey(target.eval, used ? calib.path : std::string(), used ? calib.windows : 0);
}

Histogram quantizationErrorHistogram(const Model& model, const std::string& name, const std::vector<float>& quantized) {
    const std::vector<float> original = model.weight(name).toFloats();
    if (original.size() != quantized.size())
        throw Error("quantized weight '" + name + "' has " + std::to_string(quantized.size()) + " values, expected " +
                    std::to_string(original.size()));
    std::vector<float> err(original.size());
    float amax = 0;
    for (std::size_t i = 0; i < err.size(); ++i) {
        err[i] = quantized[i] - original[i];
        amax = std::max(amax, std::fabs(err[i]));
    }
    const double hi = amax > 0 ? amax : 1e-30;
    return computeHistogram(err.data(), static_cast<std::int64_t>(err.size()), kErrorHistogramBins, -hi, hi);
}

void addQuantizedLayers(const ModelQuantResult& q, const std::map<std::string, Histogram>& errorHistograms, NewRun& run) {
    for (const auto& l : q.layers) {
        LayerArrays a;
        a.name = l.name;
        a.errorHistogram = errorHistograms.at(l.name);
        a.bitsPerWeight = l.bitsPerWeight;
        a.mse = l.error.mse;
        a.sqnrDb = l.error.sqnrDb;
        a.maxAbsError = l.error.maxAbs;
        run.arrays.layers.push_back(std::move(a));
        run.layers.push_back({l.name, l.rows, l.cols, l.bitsPerWeight, l.error.mse, l.error.maxAbs,
                              l.error.sqnrDb, errorHistogramPath(l.name)});
    }
}

// ---------------------------------------------------------------------------------------------

RecipeRunner::RecipeRunner(RecipeRunTarget target, const Registries& registries, Project* project,
                           const JobContext& ctx)
    : m_target(std::move(target)), m_registries(registries), m_project(project) {
    if (!m_target.model) throw Error("evaluate: no model is open");
    const Model& model = *m_target.model;
    m_classifier = isClassifierModel(model);
    if (m_target.data.empty()) throw Error("evaluate: no evaluation data given");
    std::int64_t items = 0;
    if (m_classifier) {
        const std::string name = model.path().filename().string();
        if (m_target.eval.bf16Products)
            throw Error("evaluate: " + name + " is an image classifier, which evaluates in float32 (compute f32)");
        if (m_target.labels.empty())
            throw Error("evaluate: " + name + " is an image classifier: give the labels of the images " +
                        m_target.data + " (Y.npy or FILE.h5:DATASET)");
        ctx.step(0, 0, "reading " + m_target.data);
        m_images = readArraySpec(m_target.data);
        m_labels = toLabels(readArraySpec(m_target.labels), m_target.labels);
        if (m_images->shape().empty() || m_images->shape()[0] != static_cast<std::int64_t>(m_labels.size()))
            throw Error("evaluate: images " + m_target.data + " " + shapeToString(m_images->shape()) +
                        " hold a different number of images than the labels " + m_target.labels + " (" +
                        std::to_string(m_labels.size()) + ")");
        items = static_cast<std::int64_t>(m_labels.size());
        m_evalSteps = items;
    } else {
        ctx.step(0, 0, "reading " + std::filesystem::path(m_target.data).filename().string());
        std::string source;
        m_tokens = readTokenData(m_target.data, model.path(), source);
        m_evalSteps = static_cast<long long>(splitWindows(m_tokens, m_target.eval).size()); // validates
        items = static_cast<std::int64_t>(m_tokens.size());
        auto reference = std::make_unique<CausalLm>(model, std::map<std::string, std::vector<float>>{},
                                                    JobContext{nullptr, ctx.cancel});
        reference->setHooks({.bf16Products = m_target.eval.bf16Products});
        m_reference = std::move(reference);
    }
    if (m_project) {
        ctx.step(0, 0, "hashing model and data");
        ModelRecord mr;
        mr.path = absolutePath(model.path());
        mr.hash = contentHash(model.path());
        mr.architecture = model.config().modelType;
        mr.parameters = model.parameterCount();
        m_modelId = m_project->ensureModel(mr);
        m_datasetId =
            m_project->ensureDataset({0, absoluteSpec(m_target.data), specHash(m_target.data), items});
    }
}

RecipeRunner::~RecipeRunner() = default;

std::string RecipeRunner::settingsKey(const Recipe& recipe, const RecipeCalibration& calib) const {
    return recipeRunSettingsKey(m_target, recipe, calib, m_registries);
}

std::string RecipeRunner::referenceKey() const {
    return settingsKey(Recipe{}, {});
}

std::optional<RunRecord> RecipeRunner::findRun(const std::string& evalKey, const std::string& recipe) const {
    if (!m_project->finishedRecipes(m_modelId, m_datasetId, evalKey).count(recipe)) return std::nullopt;
    for (auto& r : m_project->runs())
        if (r.status == "finished" && r.recipe == recipe && r.modelId == m_modelId &&
            r.datasetId == m_datasetId && r.evalSettings == evalKey)
            return r;
    return std::nullopt;
}

std::int64_t RecipeRunner::provenance() {
    std::lock_guard lock(m_mutex);
    if (!m_provenanceId) m_provenanceId = m_project->addProvenance(m_target.commandLine);
    return m_provenanceId;
}

NewRun RecipeRunner::referenceRun(double seconds) const {
    NewRun r;
    r.recipe = "{}";
    r.recipeLabel = "fp32";
    r.modelId = m_modelId;
    r.datasetId = m_datasetId;
    r.evalSettings = referenceKey();
    r.seconds = seconds;
    double bits = 0;
    for (const auto& w : m_target.model->weights())
        bits += static_cast<double>(numel(w.shape)) * 8.0 * static_cast<double>(dtypeSize(w.dtype));
    r.metrics.modelBytes = bits / 8.0;
    r.metrics.bitsPerWeight = bits / static_cast<double>(m_target.model->parameterCount());
    return r;
}

RunRecord RecipeRunner::ensureReference(const JobContext& ctx) {
    if (!m_project) throw Error("evaluate: the fp32 reference run needs a project");
    if (auto r = findRun(referenceKey(), "{}")) return *r;
    if (ctx.progress) ctx.progress(0, 1, "fp32 reference");
    const JobContext inner{nullptr, ctx.cancel};
    const std::string startedAt = isoTimeNow();
    NewRun run;
    if (m_classifier) {
        const auto start = Clock::now();
        const ClassifierResult r =
            OnnxClassifier(onnxOf(*m_target.model)).evaluate(*m_images, m_labels, m_target.batch, inner);
        run = referenceRun(secondsSince(start));
        run.metrics.accuracy = r.accuracy;
    } else {
        const PerplexityResult pr = evaluatePerplexity(*m_reference, m_tokens, m_target.eval, inner);
        run = referenceRun(pr.seconds);
        run.metrics.perplexity = pr.perplexity;
        run.metrics.referencePerplexity = pr.perplexity;
    }
    run.provenanceId = provenance();
    run.startedAt = startedAt;
    run.finishedAt = isoTimeNow();
    m_project->storeRun(run);
    if (auto r = findRun(referenceKey(), "{}")) return *r;
    throw Error(m_project->path().string() + ": the fp32 reference run was not stored");
}

std::int64_t RecipeRunner::storeReference(const Figures& f, std::int64_t provenanceId,
                                          const std::string& startedAt) {
    if (auto ref = findRun(referenceKey(), "{}")) return ref->id;
    NewRun r = referenceRun(f.referenceSeconds);
    const auto bytes = r.metrics.modelBytes;
    const auto bits = r.metrics.bitsPerWeight;
    r.metrics = f.reference;
    r.metrics.modelBytes = bytes;
    r.metrics.bitsPerWeight = bits;
    r.provenanceId = provenanceId;
    r.startedAt = startedAt;
    r.finishedAt = isoTimeNow();
    if (auto id = m_project->storeRun(r)) return *id;
    if (auto again = findRun(referenceKey(), "{}")) return again->id; // stored meanwhile elsewhere
    return 0;
}

RecipeRunner::Figures RecipeRunner::evaluate(const Recipe& recipe, const RecipeCalibration& calib,
                                             const JobContext& ctx, NewRun& run) {
    const Model& model = *m_target.model;
    const Quantizer* method =
        recipe.quantizeWeights ? m_registries.quantizers.find(recipe.job.method) : nullptr;
    if (recipe.quantizeWeights && !method)
        throw Error("evaluate: unknown method '" + recipe.job.method + "'");
    const bool calibrated = recipeNeedsCalibration(recipe, m_registries);
    if (m_classifier) {
        // The classifier path of `eval MODEL.onnx`: data-free weight methods, activations, no KV cache.
        if (calibrated || !recipe.job.transforms.empty())
            throw Error("evaluate: " + recipe.label() +
                        " calibrates or transforms a language model's layers; an .onnx classifier takes "
                        "calibration-free weight methods (rtn) without transforms");
        if (recipe.kvCache) throw Error("evaluate: an .onnx classifier has no KV cache to quantize");
    } else if (calibrated && calib.path.empty()) {
        throw Error("evaluate: " + recipe.label() + " needs calibration data");
    }

    // One progress scale: quantized layers first, then evaluation steps (windows or images).
    long long layerSteps = 0;
    if (recipe.quantizeWeights)
        for (const auto& w : model.weights())
            layerSteps += w.quantizable ? 1 : 0;
    const long long total = layerSteps + m_evalSteps;
    const JobContext quantCtx{[&](long long d, long long t, const std::string& m) {
                                  if (ctx.progress) ctx.progress(t > 0 ? d * layerSteps / t : 0, total, m);
                              },
                              ctx.cancel};
    const JobContext evalCtx{[&](long long d, long long t, const std::string& m) {
                                 if (ctx.progress)
                                     ctx.progress(layerSteps + (t > 0 ? d * m_evalSteps / t : 0), total, m);
                             },
                             ctx.cancel};

    Figures f;
    std::map<std::string, std::vector<float>> replaced; // a classifier's; a language model's go into `candidate`
    std::map<std::string, std::uint64_t> replacedHashes; // for the prefix cache's keys
    std::optional<CausalLm> candidate; // a language model's quantized model
    if (!m_classifier) candidate.emplace(*m_reference, std::map<std::string, std::vector<float>>{});
    std::set<std::string> unchanged; // weights a "keep" rule left at their stored values
    std::shared_ptr<const TransformedModel> transformed; // set when the recipe has transforms
    if (recipe.quantizeWeights) {
        const CalibrationData* cal = nullptr;
        if (calibrated && !m_classifier) {
            ctx.step(0, total,
                     "reading calibration data " + std::filesystem::path(calib.path).filename().string());
            std::lock_guard lock(m_mutex); // one load per file, shared by every later recipe
            const std::string key = absolutePath(calib.path) + "\n" + std::to_string(calib.windows);
            auto it = m_lmCalibration.find(key);
            if (it == m_lmCalibration.end())
                it = m_lmCalibration
                         .emplace(key,
                                  loadCalibrationData(calib.path, model.path(), m_target.eval.ctx, calib.windows))
                         .first;
            cal = &it->second;
        }
        // A language model's weights go into the candidate as they are made (quantized Linears held
        // as codes, no float32 map of the whole model); what the run keeps of each is taken on the way.
        // The quantized layers are named (onLayer) before their weights are finished (onWeight).
        std::set<std::string> layerNames;
        std::map<std::string, Histogram> histograms;
        const auto named = [&](const LayerQuantResult& l) { layerNames.insert(l.name); };
        const WeightObserver observe = [&](const std::string& name, const std::vector<float>& values) {
            replacedHashes[name] = replacedWeightHash(name, values);
            if (layerNames.count(name)) histograms[name] = quantizationErrorHistogram(model, name, values);
        };
        ModelQuantResult q = quantizeModel(model, m_registries, recipe.job, quantCtx, m_classifier, named, cal,
                                           candidate ? &*candidate : nullptr, observe);
        addQuantizedLayers(q, histograms, run);
        run.metrics.bitsPerWeight = q.bitsPerWeight;
        run.metrics.modelBytes = q.modelBitsPerWeight * static_cast<double>(q.totalParams) / 8.0;
        f.modelBitsPerWeight = q.modelBitsPerWeight;
        for (const LayerQuantResult& l : q.layers)
            if (l.kept) unchanged.insert(l.name);
        replaced = std::move(q.weights);
        transformed = q.transformed;
    }

    if (m_classifier) {
        const OnnxModel& onnx = onnxOf(model);
        std::optional<ActivationQuant> act;
        if (recipe.activation && !calib.path.empty()) {
            std::vector<RangeStats> ranges;
            {
                std::lock_guard lock(m_mutex);
                auto it = m_actRanges.find(calib.path);
                if (it == m_actRanges.end()) {
                    const Tensor cx = readArraySpec(calib.path);
                    it = m_actRanges
                             .emplace(calib.path, calibrateActivationRanges(onnx, cx, m_target.batch,
                                                                            JobContext{nullptr, ctx.cancel}))
                             .first;
                }
                ranges = it->second;
            }
            act = staticActivationQuant(*recipe.activation, ranges);
        } else if (recipe.activation) {
            act = ActivationQuant{*recipe.activation, {}}; // dynamic: scales from each batch
        }
        const auto start = Clock::now();
        const ClassifierResult ref = OnnxClassifier(onnx).evaluate(*m_images, m_labels, m_target.batch,
                                                                   JobContext{nullptr, ctx.cancel});
        f.referenceSeconds = secondsSince(start);
        const ClassifierResult got =
            OnnxClassifier(onnx, replaced, act).evaluate(*m_images, m_labels, m_target.batch, evalCtx);
        run.metrics.accuracy = got.accuracy;
        run.metrics.top1Agreement = argmaxAgreement(ref, got);
        f.reference.accuracy = ref.accuracy;
        return f;
    }

    // The streams this recipe shares with earlier ones: keys of what enters each layer, from the
    // hashes of the weights installed in the candidate. Weights a "keep" rule left at their stored
    // values are the fp32 model's.
    const int layers = m_reference->numLayers();
    std::vector<std::uint64_t> keys;
    if (m_residuals && !transformed)
        keys = residualKeysOfHashes(model, layers, replacedHashes, hooksKey(recipe.activation, recipe.kvCache, m_target.eval.bf16Products), unchanged);
    const ForwardHooks userHooks{
        .activation = recipe.activation, .kvCache = recipe.kvCache, .bf16Products = m_target.eval.bf16Products};
    candidate->setHooks(transformed ? transformed->hooks(userHooks) : userHooks); // online rotations too
    if (m_referenceLogitsLimit > 0) std::call_once(m_referenceLogitsOnce, [&] { computeReferenceLogits(ctx); });

    const std::size_t windows = splitWindows(m_tokens, m_target.eval).size();
    std::optional<PrefixRun> prefix;
    if (!keys.empty()) prefix.emplace(*m_residuals, keys, windows, streamBytesPerLayer());
    const ComparisonResult c = compareWithReference(
        *m_reference,
        [&](std::size_t first, std::span<const std::span<const std::int32_t>> batch) {
            return prefix ? prefix->logits(*candidate, first, batch) : candidate->forwardBatch(batch);
        },
        m_tokens, m_target.eval, evalCtx, m_referenceLogits);
    if (prefix) prefix->keepAll();
    const int start = prefix ? prefix->start() : 0;
    m_layerRuns += static_cast<long long>(layers - start) * static_cast<long long>(windows);
    m_layerRunsWithoutCache += static_cast<long long>(layers) * static_cast<long long>(windows);
    run.metrics.perplexity = c.candidate.perplexity;
    run.metrics.referencePerplexity = c.reference.perplexity;
    run.metrics.kldMean = c.kld.mean;
    run.metrics.kldP99 = c.kld.p99;
    run.metrics.top1Agreement = c.kld.top1Agreement;
    // The fp32 figures of the comparison are evaluatePerplexity's (same windows, same summation).
    f.reference.perplexity = c.reference.perplexity;
    f.reference.referencePerplexity = c.reference.perplexity;
    f.referenceSeconds = m_referenceLogits.empty() ? c.reference.seconds : m_referenceLogitsSeconds;
    return f;
}

std::size_t RecipeRunner::streamBytesPerLayer() const {
    return splitWindows(m_tokens, m_target.eval).size() * static_cast<std::size_t>(m_target.eval.ctx) *
           static_cast<std::size_t>(m_reference->config().hiddenSize) * sizeof(float);
}

void RecipeRunner::keepResidualStreams(std::size_t byteLimit) {
    m_residuals = byteLimit > 0 ? std::make_unique<ResidualCache>(byteLimit) : nullptr;
}

// The fp32 logits every recipe is compared with, computed layer by layer so that, with kept streams,
// the fp32 model's streams are kept too: a recipe leaving layers below L in float32 starts at L.
void RecipeRunner::computeReferenceLogits(const JobContext& ctx) {
    const auto start = Clock::now();
    const JobContext quiet{nullptr, ctx.cancel};
    if (!m_residuals) {
        m_referenceLogits = referenceLogits(*m_reference, m_tokens, m_target.eval, m_referenceLogitsLimit, quiet);
    } else {
        const auto windows = splitWindows(m_tokens, m_target.eval);
        const bool keepLogits = static_cast<double>(windows.size()) * m_target.eval.ctx * m_reference->vocabSize() *
                                    sizeof(float) <= static_cast<double>(m_referenceLogitsLimit);
        PrefixRun prefix(*m_residuals, residualKeys(*m_target.model, m_reference->numLayers(), {}, hooksKey(std::nullopt, std::nullopt, m_target.eval.bf16Products)),
                         windows.size(), streamBytesPerLayer(), true);
        std::vector<RowMatrixF> logits(keepLogits ? windows.size() : 0);
        forEachWindowBatch(windows.size(), windowsPerBatch(windows.size(), m_target.eval.ctx, m_reference->vocabSize()),
                           quiet, "reference logits", [&](std::size_t begin, std::size_t end) {
                               auto batch = prefix.logits(*m_reference, begin, std::span(windows).subspan(begin, end - begin));
                               if (keepLogits)
                                   std::move(batch.begin(), batch.end(), logits.begin() + static_cast<std::ptrdiff_t>(begin));
                           });
        prefix.keepAll();
        m_referenceLogits = std::move(logits);
    }
    m_referenceLogitsSeconds = secondsSince(start);
}

RecipeRunOutcome RecipeRunner::run(const Recipe& recipe, const RecipeCalibration& calib,
                                   const JobContext& ctx, bool storeFailures) {
    const auto start = Clock::now();
    RecipeRunOutcome out;
    out.label = recipe.label();
    out.recipe = recipe.canonical();
    out.evalSettings = settingsKey(recipe, calib);
    if (m_project)
        if (auto existing = findRun(out.evalSettings, out.recipe)) {
            out.reused = true;
            out.runId = existing->id;
            out.metrics = existing->metrics;
            out.seconds = existing->seconds;
            if (auto ref = findRun(referenceKey(), "{}")) {
                out.referenceRunId = ref->id;
                out.referenceAccuracy = ref->metrics.accuracy;
            }
            return out;
        }

    NewRun run;
    run.startedAt = isoTimeNow();
    Figures f;
    try {
        f = evaluate(recipe, calib, ctx, run);
    } catch (const Cancelled&) {
        throw;
    } catch (const std::exception& e) {
        if (!storeFailures) throw;
        run.status = out.status = "failed";
        run.error = out.error = e.what();
        run.layers.clear();
        run.arrays.layers.clear();
    }
    out.metrics = run.metrics;
    out.referenceAccuracy = f.reference.accuracy;
    out.modelBitsPerWeight = f.modelBitsPerWeight;
    out.seconds = secondsSince(start);
    ctx.checkCancel(); // the last point where a cancel leaves the project untouched
    if (!m_project) return out;

    const std::int64_t provenanceId = provenance();
    if (out.status == "finished")
        out.referenceRunId = storeReference(f, provenanceId, run.startedAt);
    else if (auto ref = findRun(referenceKey(), "{}"))
        out.referenceRunId = ref->id;
    run.recipe = out.recipe;
    run.recipeLabel = out.label;
    run.modelId = m_modelId;
    run.datasetId = m_datasetId;
    run.provenanceId = provenanceId;
    run.evalSettings = out.evalSettings;
    run.finishedAt = isoTimeNow();
    run.seconds = out.seconds;
    if (auto id = m_project->storeRun(run)) {
        out.runId = *id;
    } else if (auto other = findRun(out.evalSettings, out.recipe)) {
        out.runId = other->id; // another process stored the same run meanwhile
        out.reused = true;
    }
    return out;
}

RecipeRunOutcome evaluateRecipe(const RecipeRunTarget& target, const Recipe& recipe,
                                const RecipeCalibration& calib, const Registries& registries,
                                Project* project, const JobContext& ctx) {
    RecipeRunner runner(target, registries, project, ctx);
    return runner.run(recipe, calib, ctx);
}

} // namespace qs::core
