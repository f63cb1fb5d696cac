// SPDX-License-Identifier: MIT
#include "quant/model_quantizer.h"
#include "model/weight_layout.h"
#include "quant/qat.h"

#include "calib/collect_stats.h"
#include "io/mapped_file.h"
#include "nn/causal_lm.h"
#include "quant/quantizer.h"
#include "transform/mixed_quant.h"
#include "transform/transform_pipeline.h"

#include <algorithm>
#include <chrono>

namespace qs::core {

std::vector<LayerReport> inspectModel(const Model& model, const JobContext& job) {
    std::vector<LayerReport> out;
    const auto& weights = model.weights();
    out.reserve(weights.size());
    for (std::size_t i = 0; i < weights.size(); ++i) {
        job.step(static_cast<long long>(i), static_cast<long long>(weights.size()), "statistics " + weights[i].name);
        const auto data = model.weightAsOutIn(weights[i]);
        out.push_back({weights[i], computeTensorStats(data.data(), weights[i].matrixRows(), weights[i].matrixCols())});
        // Its file pages leave the resident set once read: otherwise a memory-mapped model ends up
        // wholly resident (a 7B model's 12.6 GiB).
        const Tensor stored = model.weight(weights[i].name);
        MappedFile::adviseNotNeeded(stored.bytes(), stored.byteSize());
    }
    job.step(static_cast<long long>(weights.size()), static_cast<long long>(weights.size()), "statistics done");
    return out;
}

WeightAssignment QuantJob::defaults() const {
    WeightAssignment a;
    a.method = method;
    a.spec = spec;
    a.methodParams = methodParams;
    return a;
}

nlohmann::json QuantJob::toJson() const {
    nlohmann::json j = spec.toJson();
    j["method"] = method;
    j["method_params"] = methodParams;
    if (const auto live = effectiveRules(defaults(), layers); !live.empty()) {
        auto arr = nlohmann::json::array();
        for (const auto& r : live) arr.push_back(layerRuleToJson(r));
        j["layers"] = arr;
    }
    if (!transforms.empty()) {
        auto arr = nlohmann::json::array();
        for (const auto& t : transforms) {
            nlohmann::json e = t.params;
            e["name"] = t.name;
            arr.push_back(e);
        }
        j["transforms"] = arr;
    }
    return j;
}

nlohmann::json LayerQuantResult::toJson() const {
    return {{"name", name},
            {"assignment", assignment},
            {"kept", kept},
            {"rows", rows},
            {"cols", cols},
            {"bits_per_weight", bitsPerWeight},
            {"mse", error.mse},
            {"sqnr_db", error.sqnrDb},
            {"max_abs_error", error.maxAbs}};
}

nlohmann::json ModelQuantResult::toJson() const {
    auto layerArr = nlohmann::json::array();
    for (const auto& l : layers) layerArr.push_back(l.toJson());
    nlohmann::json j{{"recipe", job.toJson()},
                     {"bits_per_weight", bitsPerWeight},
                     {"model_bits_per_weight", modelBitsPerWeight},
                     {"quantized_parameters", quantizedParams},
                     {"kept_parameters", keptParams},
                     {"total_parameters", totalParams},
                     {"seconds", seconds},
                     {"layers", layerArr}};
    if (!calibration.is_null()) j["calibration"] = calibration;
    if (transformed) {
        j["transforms"] = transformed->applied;
        j["online_transform_parameters"] = transformed->onlineParameters;
    }
    return j;
}

ModelQuantizer::ModelQuantizer(const Model& model, const MethodRegistries& registries, const QuantJob& job,
                               const JobContext& ctx, std::shared_ptr<const TransformedModel> transformed,
                               std::function<void(const LayerQuantResult&)> onLayer)
    : m_model(model), m_ctx(ctx), m_transformed(std::move(transformed)), m_onLayer(std::move(onLayer)) {
    m_result.job = job;
    m_result.job.methodParams =
        validateParams(registries.quantizers.get(job.method, "method").params(), job.methodParams, "method " + job.method);
    m_result.transformed = m_transformed;
    for (const auto& w : model.weights())
        if (w.quantizable) m_targets.push_back(&w);
    std::vector<bool> ruleUsed(job.layers.size(), false);
    for (const WeightInfo* w : m_targets) {
        WeightAssignment a = m_result.job.assignmentFor(w->name);
        if (a.rule >= 0) ruleUsed[static_cast<std::size_t>(a.rule)] = true;
        const Quantizer* q = nullptr;
        // Rules' parameters were validated by the recipe gate; the default's just above.
        if (!a.keep) q = &registries.quantizers.get(a.method, "method");
        m_assigned.push_back(std::move(a));
        m_methods.push_back(q);
    }
    // A rule shadowed by a later one still matched something; only a rule that names no weight at all
    // is a mistake (a typo in the glob).
    for (std::size_t r = 0; r < job.layers.size(); ++r) {
        if (ruleUsed[r]) continue;
        const std::string& match = job.layers[r].match;
        bool any = false;
        for (const WeightInfo* w : m_targets) any = any || globMatch(match, ruleName(w->name));
        if (!any)
            throw Error("recipe rule " + std::to_string(r + 1) + " (match '" + match +
                        "') matches no quantizable weight of " + model.path().string() +
                        (m_targets.empty() ? std::string() : " (e.g. '" + ruleName(m_targets.front()->name) + "')"));
    }
    m_covered.assign(m_targets.size(), false);
}

void ModelQuantizer::setTransformed(std::shared_ptr<const TransformedModel> transformed) {
    m_transformed = std::move(transformed);
    m_result.transformed = m_transformed;
}

bool ModelQuantizer::calibrated() const {
    return !calibratedMethod().empty();
}

std::string ModelQuantizer::calibratedMethod() const {
    for (std::size_t t = 0; t < m_methods.size(); ++t)
        if (m_methods[t] && m_methods[t]->needsCalibration()) return m_assigned[t].method;
    return {};
}

namespace {
// Adds the time from construction to destruction to `total`.
class Stopwatch {
public:
    explicit Stopwatch(double& total) : m_total(total) {}
    ~Stopwatch() { m_total += std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count(); }
    Stopwatch(const Stopwatch&) = delete;
    Stopwatch& operator=(const Stopwatch&) = delete;

private:
    double& m_total;
    std::chrono::steady_clock::time_point m_start = std::chrono::steady_clock::now();
};
} // namespace

namespace {

// Index of weight `name` among the targets, or targets.size().
std::size_t targetIndex(const std::vector<const WeightInfo*>& targets, const std::string& name) {
    std::size_t t = 0;
    while (t < targets.size() && targets[t]->name != name) ++t;
    return t;
}

// A weight's row of the layer table before its error and bits are known.
LayerQuantResult layerResult(const WeightInfo& w, const WeightAssignment& a) {
    LayerQuantResult layer;
    layer.name = w.name;
    layer.rows = w.matrixRows();
    layer.cols = w.matrixCols();
    layer.assignment = a.label();
    return layer;
}

// The weight a quantizer starts from, [out, in]: transformed when there are transforms.
std::vector<float> originalOutIn(const Model& model, const TransformedModel* transformed, const WeightInfo& w) {
    return transformed ? transformed->weightOutIn(model, w.name) : model.weightAsOutIn(w);
}

} // namespace

bool ModelQuantizer::covered(const std::string& name) const {
    const std::size_t t = targetIndex(m_targets, name);
    return t < m_targets.size() && m_covered[t];
}

std::vector<float> ModelQuantizer::quantizeWeight(const WeightInfo& w, const LinearInputStats* input,
                                                  const std::string& what) {
    const Stopwatch timed(m_seconds);
    return quantizeOne(w, input, what);
}

std::vector<float> ModelQuantizer::quantizeOne(const WeightInfo& w, const LinearInputStats* input,
                                               const std::string& what) {
    m_ctx.step(m_done++, static_cast<long long>(m_targets.size()), what);
    const std::size_t t = targetIndex(m_targets, w.name);
    if (t == m_targets.size()) throw Error("weight '" + w.name + "' is not a quantizable weight of the model");
    m_covered[t] = true;
    const WeightAssignment& a = m_assigned[t];
    const QuantSpec& spec = a.spec;
    const std::vector<float> original = originalOutIn(m_model, m_transformed.get(), w);
    const std::int64_t rows = w.matrixRows(), cols = w.matrixCols();
    LayerQuantResult layer = layerResult(w, a);
    std::vector<float> quantized;
    if (a.keep) {
        // Left at its stored value (transformed when there are transforms), counted at its stored width.
        quantized = original;
        layer.kept = true;
        layer.bitsPerWeight = 8.0 * static_cast<double>(dtypeSize(w.dtype));
        m_result.keptParams += rows * cols;
    } else {
        const Quantizer& method = *m_methods[t];
        quantized.resize(original.size());
        std::int64_t highColumns = -1; // mixed precision (resq): leading columns at high bits
        if (m_transformed)
            if (const auto it = m_transformed->highColumns.find(w.name); it != m_transformed->highColumns.end())
                highColumns = it->second;
        if (highColumns >= 0)
            // The method's own count: codebooks or extra scales cost more than the spec says.
            layer.bitsPerWeight = quantizeMixedColumns(method, {original.data(), rows, cols, w.name, input}, highColumns,
                                                       highSpec(spec, m_transformed->highBits), spec, a.methodParams,
                                                       quantized.data(), m_ctx);
        else {
            method.quantize({original.data(), rows, cols, w.name, input}, spec, a.methodParams, quantized.data(), m_ctx);
            layer.bitsPerWeight = method.bitsPerWeight(spec, a.methodParams, rows, cols);
        }
    }
    return record(w, std::move(layer), original, std::move(quantized));
}

std::vector<float> ModelQuantizer::recordQuantized(const WeightInfo& w, std::vector<float> quantized,
                                                   const std::string& what) {
    const Stopwatch timed(m_seconds);
    m_ctx.step(m_done++, static_cast<long long>(m_targets.size()), what);
    const std::size_t t = targetIndex(m_targets, w.name);
    if (t == m_targets.size() || m_assigned[t].keep)
        throw Error("weight '" + w.name + "' is not a weight the recipe quantizes");
    m_covered[t] = true;
    const WeightAssignment& a = m_assigned[t];
    LayerQuantResult layer = layerResult(w, a);
    layer.bitsPerWeight = m_methods[t]->bitsPerWeight(a.spec, a.methodParams, layer.rows, layer.cols);
    return record(w, std::move(layer), originalOutIn(m_model, m_transformed.get(), w), std::move(quantized));
}

std::vector<float> ModelQuantizer::record(const WeightInfo& w, LayerQuantResult layer, const std::vector<float>& original,
                                          std::vector<float> quantized) {
    const std::int64_t rows = layer.rows, cols = layer.cols;
    layer.error = computeError(original.data(), quantized.data(), rows * cols);
    m_quantBits += layer.bitsPerWeight * static_cast<double>(rows * cols);
    m_result.quantizedParams += rows * cols;
    if (m_onLayer) m_onLayer(layer);
    m_result.layers.push_back(std::move(layer));
    return storedFromOutIn(w, std::move(quantized));
}

std::map<std::string, std::vector<float>> ModelQuantizer::quantizeLayer(CausalLm& lm, int layer,
                                                                        std::vector<RowMatrixF>& calib,
                                                                        bool advance, bool keepWeights) {
    const Stopwatch timed(m_seconds);
    const std::string where = std::string("layer ") + std::to_string(layer + 1) + "/" + std::to_string(lm.numLayers());
    const auto total = static_cast<long long>(m_targets.size());
    m_ctx.step(m_done, total, where + ": calibration inputs");
    const JobContext quiet{{}, m_ctx.cancel};
    const std::vector<LinearInputSite> sites = lm.layerSites(layer);
    const std::vector<LinearInputStats> stats = collectLayerStats(lm, layer, calib, true, quiet);
    // Only the statistics are needed from here on: a layer-by-layer model lets its float32 layer go.
    if (lm.loadsLayers()) lm.releaseLayer(layer);
    std::map<std::string, std::vector<float>> replaced, kept;
    for (const WeightInfo* w : m_targets) {
        if (w->layerIndex != layer) continue;
        const LinearInputStats* input = nullptr;
        for (std::size_t s = 0; s < sites.size() && s < stats.size(); ++s)
            for (const auto& fed : sites[s].weights)
                if (fed == w->name) input = &stats[s];
        const std::size_t t = static_cast<std::size_t>(std::find(m_targets.begin(), m_targets.end(), w) - m_targets.begin());
        if (!input && m_methods[t] && m_methods[t]->needsCalibration())
            throw Error("method " + m_assigned[t].method + ": weight '" + w->name +
                        "' is not a decoder Linear the forward pass runs; it cannot be calibrated");
        auto q = quantizeOne(*w, input, where + " " + m_assigned[t].label() + " " + w->name);
        if (keepWeights) kept[w->name] = q;
        replaced[w->name] = std::move(q);
    }
    // The weights a transform changed beside the quantized ones (folded norms) come along: a
    // layer-by-layer model reloads the layer from the file, which would mix two bases.
    if (m_transformed)
        for (const auto& [name, values] : m_transformed->weights)
            if (const WeightInfo* w = m_model.find(name); w && w->layerIndex == layer && !replaced.count(name))
                replaced[name] = values;
    // Layer `layer` with its quantized weights produces the inputs of layer + 1.
    lm.replaceLayer(layer, std::move(replaced));
    if (advance)
        for (RowMatrixF& x : calib) {
            m_ctx.checkCancel();
            lm.runLayer(layer, x);
        }
    return kept;
}

ModelQuantResult ModelQuantizer::finish(const CalibrationData* calibration) {
    if (calibrated()) {
        for (std::size_t t = 0; t < m_targets.size(); ++t)
            if (!m_covered[t] && m_methods[t] && m_methods[t]->needsCalibration())
                throw Error("method " + m_assigned[t].method + ": weight '" + m_targets[t]->name +
                            "' is outside the decoder layers and cannot be calibrated");
        if (calibration)
            m_result.calibration = {{"windows", calibration->windows.size()},
                                    {"ctx", calibration->ctx},
                                    {"tokens", calibration->tokens()}};
    }
    const auto total = static_cast<long long>(m_targets.size());
    m_ctx.step(total, total, "quantization done");
    double otherBits = 0;
    for (const auto& w : m_model.weights())
        if (!w.quantizable) otherBits += static_cast<double>(numel(w.shape)) * 8.0 * dtypeSize(w.dtype);
    ModelQuantResult result = std::move(m_result);
    result.totalParams = m_model.parameterCount();
    result.bitsPerWeight =
        result.quantizedParams ? m_quantBits / static_cast<double>(result.quantizedParams) : 0;
    result.modelBitsPerWeight =
        result.totalParams ? (m_quantBits + otherBits) / static_cast<double>(result.totalParams) : 0;
    result.seconds = m_seconds;
    return result;
}

void requireCalibration(const std::string& method, bool calibrated, const CalibrationData* calibration) {
    if (calibrated && (!calibration || calibration->windows.empty()))
        throw Error("method " + method + " needs calibration data: give --calib FILE [--calib-windows N]");
}

ModelQuantResult quantizeModel(const Model& model, const MethodRegistries& registries, const QuantJob& job,
                               const JobContext& ctx, bool keepWeights,
                               const std::function<void(const LayerQuantResult&)>& onLayer,
                               const CalibrationData* calibration, CausalLm* install, const WeightObserver& onWeight) {
    const auto start = std::chrono::steady_clock::now();
    // Finished weights go into `install` (a copy when they are kept too) and into the result's map.
    std::map<std::string, std::vector<float>> weights;
    const auto finished = [&](std::map<std::string, std::vector<float>> done) {
        if (onWeight)
            for (const auto& [name, values] : done) onWeight(name, values);
        if (install && !done.empty()) *install = CausalLm(*install, keepWeights ? done : std::move(done));
        if (keepWeights) weights.merge(done);
    };
    if (registries.quantizers.get(job.method, "method").trainsModel()) {
        requireCalibration(job.method, true, calibration);
        ModelQuantResult trained = trainQuantized(model, registries, job, ctx, keepWeights || install || onWeight, onLayer, *calibration);
        if (install || onWeight) {
            finished(std::move(trained.weights));
            trained.weights = std::move(weights);
        }
        return trained;
    }
    QuantJob validated = job;
    for (auto& t : validated.transforms)
        t.params = validateParams(registries.transforms.get(t.name, "transform").params(), t.params,
                                  "transform " + t.name);
    // Methods, parameters and layer rules are checked (and calibration asked for) before the work.
    ModelQuantizer quantizer(model, registries, validated, ctx, nullptr, onLayer);
    const bool calibrated = quantizer.calibrated();
    requireCalibration(quantizer.calibratedMethod(), calibrated, calibration);

    // Basis changes first: the weight method quantizes the transformed weights.
    std::shared_ptr<const TransformedModel> transformed;
    if (!validated.transforms.empty()) {
        transformed = std::make_shared<const TransformedModel>(
            applyTransforms(model, registries.transforms, validated.transforms, calibration, ctx));
        quantizer.setTransformed(transformed);
    }
    const bool keep = keepWeights || install || onWeight;
    if (!calibrated) {
        for (const WeightInfo* w : quantizer.targets()) {
            auto q = quantizer.quantizeWeight(*w, nullptr, w->name);
            if (keep) finished({{w->name, std::move(q)}});
        }
    } else {
        // Layer-sequential: `current` holds the quantized layers < l; xs the inputs of layer l.
        const JobContext quiet{{}, ctx.cancel};
        CausalLm current(model, transformed ? transformed->weights : std::map<std::string, std::vector<float>>{}, quiet);
        if (transformed) current.setHooks(transformed->hooks()); // basis changes only, no quantization
        const int numLayers = current.numLayers();
        std::vector<RowMatrixF> xs;
        for (const auto& window : calibration->windows) xs.push_back(current.embed(window));
        for (int l = 0; l < numLayers; ++l) finished(quantizer.quantizeLayer(current, l, xs, l + 1 < numLayers, keep));
    }
    if (transformed && keep) { // replaced weights no quantizer touches (folded norms)
        std::map<std::string, std::vector<float>> untouched;
        for (const auto& [name, w] : transformed->weights)
            if (!quantizer.covered(name)) untouched[name] = w;
        finished(std::move(untouched));
    }
    ModelQuantResult result = quantizer.finish(calibration);
    result.weights = std::move(weights);
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

} // namespace qs::core
