// SPDX-License-Identifier: MIT
#include "eval/layer_major.h"

#include "eval/window_scores.h"
#include "io/mapped_file.h"
#include "quant/quantizer.h"
#include "transform/transform_pipeline.h"
#include "base/error.h"

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace qs::core {
namespace {

// Every quantizable weight must belong to a decoder layer: layer-major quantization meets weights
// only through their layer.
void checkWeightsInLayers(const Model& model, int numLayers) {
    for (const WeightInfo& w : model.weights())
        if (w.quantizable && (w.layerIndex < 0 || w.layerIndex >= numLayers))
            throw Error(model.path().string() + ": quantizable weight '" + w.name +
                        "' is outside the decoder layers; layer-major evaluation cannot place it");
}

} // namespace

void dropLayerPages(const Model& model, int layer) {
    for (const WeightInfo& w : model.weights())
        if (w.layerIndex == layer) {
            const Tensor t = model.weight(w.name); // a view into the mapping for stored float weights
            MappedFile::adviseNotNeeded(t.bytes(), t.byteSize());
        }
}

void checkLayerMajorRecipe(const QuantJob& job, const MethodRegistries& registries) {
    if (registries.quantizers.get(job.method, "method").trainsModel()) // an unknown method is named here too
        throw Error("--low-memory runs one layer at a time; " + job.method + " trains the whole model at once");
    requirePerLayerTransforms(registries.transforms, job.transforms);
}

LayerMajorResult evaluateLayerMajor(const Model& model, std::span<const std::int32_t> tokens,
                                    const EvalOptions& opts,
                                    const std::optional<LayerMajorCandidate>& candidate,
                                    const JobContext& job) {
    const auto start = std::chrono::steady_clock::now();
    const QuantJob* recipe = candidate && candidate->weights ? &*candidate->weights : nullptr;
    if (recipe) {
        if (!candidate->registries)
            throw Error("layer-major evaluation: a weight recipe needs the registries");
        checkLayerMajorRecipe(*recipe, *candidate->registries);
    }
    const auto windows = splitWindows(tokens, opts);
    CausalLm lm = CausalLm::layerByLayer(model);
    checkTargets(tokens.first(windows.size() * static_cast<std::size_t>(opts.ctx)), lm.vocabSize());
    const int numLayers = lm.numLayers();
    const long long total = numLayers + 1;
    const JobContext quiet{{}, job.cancel}; // progress is reported per layer, cancellation per batch
    std::optional<ModelQuantizer> quantizer;
    const CalibrationData* calibration = candidate ? candidate->calibration : nullptr;
    if (recipe) {
        quantizer.emplace(model, *candidate->registries, *recipe, quiet);
        requireCalibration(quantizer->calibratedMethod(), quantizer->calibrated(), calibration);
        checkWeightsInLayers(model, numLayers);
    }
    const bool calibrated = quantizer && quantizer->calibrated();
    const bool calibratedTransform = recipe && needsCalibration(candidate->registries->transforms, recipe->transforms);
    if (calibratedTransform && (!calibration || calibration->windows.empty()))
        throw Error("layer-major evaluation: the recipe's transforms need calibration data (--calib FILE)");

    // Residual streams of every window: the reference's and (compared) the candidate's; with a
    // calibrated method also the calibration windows' (through the quantized layers < l).
    job.step(0, total, "embedding " + std::to_string(windows.size()) + " windows");
    // A calibrated transform (resq) also carries the windows through the transformed, unquantized
    // layers: its statistics of layer l are those a whole-model pass would take.
    std::vector<RowMatrixF> ref = embedWindows(lm, windows, quiet), cand, calib, transformCalib;
    if (candidate) cand = ref;
    if (calibrated)
        for (const auto& window : calibration->windows) calib.push_back(lm.embed(window));
    if (calibratedTransform)
        for (const auto& window : calibration->windows) transformCalib.push_back(lm.embed(window));
    const auto runLayer = [&](int l, std::vector<RowMatrixF>& xs) { runLayerOnStreams(lm, l, xs, quiet); };

    const ForwardHooks none;
    auto described = std::make_shared<TransformedModel>(); // the transforms of every layer, for the result
    for (int l = 0; l < numLayers; ++l) {
        const std::string layer = "layer " + std::to_string(l + 1) + "/" + std::to_string(numLayers);
        job.step(l, total, layer + ": reference");
        lm.loadLayer(l);
        lm.setHooks(none);
        runLayer(l, ref);
        if (candidate) {
            ForwardHooks hooks = candidate->hooks;
            if (recipe) {
                job.step(l, total, layer + ": quantizing");
                // Layer-local transforms (rotate): this layer's weights in the new basis, and the
                // online basis changes the candidate's forward pass makes at every layer.
                std::shared_ptr<const TransformedModel> transformed;
                if (!recipe->transforms.empty()) {
                    transformed = std::make_shared<const TransformedModel>(applyTransformsToLayer(
                        model, lm, candidate->registries->transforms, recipe->transforms, l, quiet, calibration,
                        calibratedTransform ? &transformCalib : nullptr));
                    quantizer->setTransformed(transformed);
                    addLayerDescription(*described, *transformed);
                    hooks = transformed->hooks(candidate->hooks);
                }
                if (calibrated) {
                    if (transformed) { // statistics of the transformed layer, as quantizeModel takes them
                        lm.releaseLayer(l);
                        lm.loadLayer(l, transformed->weights);
                        lm.setHooks(transformed->hooks());
                    }
                    // quantizeModel's step: statistics from the float32 layer, which it then drops,
                    // quantizes, installs, and runs the calibration windows through the result.
                    quantizer->quantizeLayer(lm, l, calib, l + 1 < numLayers, false);
                } else {
                    // Released before quantizing: the float32 and the quantized layer are never held together.
                    lm.releaseLayer(l);
                    std::map<std::string, std::vector<float>> weights;
                    if (transformed)
                        for (const auto& [name, values] : transformed->weights) weights[name] = values; // e.g. folded norms
                    for (const WeightInfo* w : quantizer->targets())
                        if (w->layerIndex == l)
                            weights[w->name] = quantizer->quantizeWeight(*w, nullptr, w->name);
                    lm.loadLayer(l, std::move(weights));
                }
            }
            job.step(l, total, layer + ": candidate");
            lm.setHooks(hooks);
            runLayer(l, cand);
        }
        lm.releaseLayer(l);
        dropLayerPages(model, l);
    }
    calib.clear();
    job.step(numLayers, total, "logits");
    LayerMajorResult result;
    const auto seconds = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    if (candidate) {
        ComparisonScores scores(windows.size(), opts.ctx, opts.scoreFrom);
        forEachWindow(windows.size(), quiet, "logits", [&](std::size_t k) {
            scores.add(k, lm.logits(ref[k]), lm.logits(cand[k]), windows[k]);
            ref[k] = RowMatrixF();
            cand[k] = RowMatrixF();
        });
        result.comparison = scores.finish(seconds());
        result.perplexity = result.comparison->candidate;
        if (quantizer) {
            if (!described->applied.empty()) quantizer->setTransformed(described);
            result.quant = quantizer->finish(calibration);
        }
    } else {
        std::vector<double> nll(windows.size(), 0.0);
        forEachWindow(windows.size(), quiet, "logits", [&](std::size_t k) {
            nll[k] = windowNll(lm.logits(ref[k]), windows[k], opts.scoreFrom);
            ref[k] = RowMatrixF();
        });
        double sum = 0;
        for (double v : nll)
            sum += v; // window order, as evaluatePerplexity sums
        result.perplexity =
            perplexityFromNll(sum, static_cast<long long>(windows.size()), opts.ctx, seconds(), opts.scoreFrom);
    }
    result.peakWeightBytes = lm.peakWeightBytes();
    job.step(total, total, "done");
    return result;
}

} // namespace qs::core
