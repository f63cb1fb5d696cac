// SPDX-License-Identifier: MIT
#include "eval/layer_major.h"

#include "eval/window_scores.h"
#include "quant/quantizer.h"
#include "tensor/error.h"

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace qs::core {
namespace {

// A model restricted to some of another model's weights, so that quantizeModel (the one place that
// turns a recipe into quantized weights and their accounting) quantizes one decoder layer at a time.
class WeightSubset : public Model {
public:
    WeightSubset(const Model& base, std::vector<WeightInfo> weights)
        : m_base(base), m_weights(std::move(weights)) {}
    const std::filesystem::path& path() const override { return m_base.path(); }
    const ModelConfig& config() const override { return m_base.config(); }
    const std::vector<WeightInfo>& weights() const override { return m_weights; }
    Tensor weight(const std::string& name) const override { return m_base.weight(name); }

private:
    const Model& m_base;
    std::vector<WeightInfo> m_weights;
};

// Layer l's quantizable weights; the other weights join layer 0's subset, which quantizes none of
// them but counts them, so that the parts add up to quantizeModel's model-wide bits per weight.
std::vector<std::vector<WeightInfo>> layerSubsets(const Model& model, int numLayers) {
    std::vector<std::vector<WeightInfo>> subsets(static_cast<std::size_t>(std::max(1, numLayers)));
    for (const WeightInfo& w : model.weights()) {
        if (!w.quantizable) {
            subsets.front().push_back(w);
            continue;
        }
        if (w.layerIndex < 0 || w.layerIndex >= numLayers)
            throw Error(model.path().string() + ": quantizable weight '" + w.name +
                        "' is outside the decoder layers; layer-major evaluation cannot place it");
        subsets[static_cast<std::size_t>(w.layerIndex)].push_back(w);
    }
    return subsets;
}

// The per-layer quantization results summed into one (bits weighted by parameter counts).
class QuantTotals {
public:
    void add(ModelQuantResult part) {
        if (m_parts++ == 0) m_total.job = part.job;
        m_quantBits += part.bitsPerWeight * static_cast<double>(part.quantizedParams);
        m_modelBits += part.modelBitsPerWeight * static_cast<double>(part.totalParams);
        m_total.quantizedParams += part.quantizedParams;
        m_total.totalParams += part.totalParams;
        m_total.seconds += part.seconds;
        for (auto& l : part.layers)
            m_total.layers.push_back(std::move(l));
    }
    ModelQuantResult finish(const QuantJob& job) {
        if (m_parts == 0) m_total.job = job;
        const auto ratio = [](double bits, std::int64_t params) {
            return params ? bits / static_cast<double>(params) : 0.0;
        };
        m_total.bitsPerWeight = ratio(m_quantBits, m_total.quantizedParams);
        m_total.modelBitsPerWeight = ratio(m_modelBits, m_total.totalParams);
        return std::move(m_total);
    }

private:
    ModelQuantResult m_total;
    double m_quantBits = 0, m_modelBits = 0;
    int m_parts = 0;
};

} // namespace

void checkLayerMajorRecipe(const QuantJob& job, const Registries& registries) {
    const Quantizer& method = registries.quantizers.get(job.method, "method");
    std::string dataFree;
    for (const Quantizer* q : registries.quantizers.all())
        if (!q->needsCalibration()) dataFree += (dataFree.empty() ? "" : ", ") + std::string(q->name());
    if (!job.transforms.empty())
        throw Error("--low-memory (layer-major evaluation) supports data-free recipes without transforms: "
                    "transform '" +
                    job.transforms.front().name +
                    "' changes the model as a whole (data-free methods: " + dataFree + ")");
    if (method.needsCalibration())
        throw Error("--low-memory (layer-major evaluation) supports data-free recipes only: method '" +
                    job.method +
                    "' needs calibration data run through the model (data-free methods: " + dataFree + ")");
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
    std::vector<std::vector<WeightInfo>> subsets;
    if (recipe) subsets = layerSubsets(model, numLayers);
    QuantTotals quant;

    // Residual streams of every window: the reference's and (compared) the candidate's.
    job.step(0, total, "embedding " + std::to_string(windows.size()) + " windows");
    std::vector<RowMatrixF> ref(windows.size()), cand;
    forEachWindow(windows.size(), quiet, "embed", [&](std::size_t k) { ref[k] = lm.embed(windows[k]); });
    if (candidate) cand = ref;
    const auto runLayer = [&](int l, std::vector<RowMatrixF>& xs) {
        forEachWindow(xs.size(), quiet, "layer", [&](std::size_t k) { lm.runLayer(l, xs[k]); });
    };

    const ForwardHooks none;
    for (int l = 0; l < numLayers; ++l) {
        const std::string layer = "layer " + std::to_string(l + 1) + "/" + std::to_string(numLayers);
        job.step(l, total, layer + ": reference");
        lm.loadLayer(l);
        lm.setHooks(none);
        runLayer(l, ref);
        if (candidate) {
            if (recipe) {
                // Released before quantizing: the float32 and the quantized layer are never held together.
                lm.releaseLayer(l);
                job.step(l, total, layer + ": " + recipe->method + " " + recipe->spec.label());
                ModelQuantResult part =
                    quantizeModel(WeightSubset(model, std::move(subsets[static_cast<std::size_t>(l)])),
                                  *candidate->registries, *recipe, quiet, true);
                auto weights = std::move(part.weights);
                quant.add(std::move(part));
                lm.loadLayer(l, std::move(weights));
            }
            job.step(l, total, layer + ": candidate");
            lm.setHooks(candidate->hooks);
            runLayer(l, cand);
        }
        lm.releaseLayer(l);
    }

    job.step(numLayers, total, "logits");
    LayerMajorResult result;
    const auto seconds = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    if (candidate) {
        ComparisonScores scores(windows.size(), opts.ctx);
        forEachWindow(windows.size(), quiet, "logits", [&](std::size_t k) {
            scores.add(k, lm.logits(ref[k]), lm.logits(cand[k]), windows[k]);
            ref[k] = RowMatrixF();
            cand[k] = RowMatrixF();
        });
        result.comparison = scores.finish(seconds());
        result.perplexity = result.comparison->candidate;
        if (recipe) result.quant = quant.finish(*recipe);
    } else {
        std::vector<double> nll(windows.size(), 0.0);
        forEachWindow(windows.size(), quiet, "logits", [&](std::size_t k) {
            nll[k] = windowNll(lm.logits(ref[k]), windows[k]);
            ref[k] = RowMatrixF();
        });
        double sum = 0;
        for (double v : nll)
            sum += v; // window order, as evaluatePerplexity sums
        result.perplexity =
            perplexityFromNll(sum, static_cast<long long>(windows.size()), opts.ctx, seconds());
    }
    result.peakWeightBytes = lm.peakWeightBytes();
    job.step(total, total, "done");
    return result;
}

} // namespace qs::core
