// SPDX-License-Identifier: MIT
#include "engine/model_jobs.h"

#include "calib/collect_stats.h"
#include "nn/causal_lm.h"
#include "quant/quantizer.h"
#include "transform/mixed_quant.h"
#include "transform/transform_pipeline.h"

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
    }
    job.step(static_cast<long long>(weights.size()), static_cast<long long>(weights.size()), "statistics done");
    return out;
}

nlohmann::json QuantJob::toJson() const {
    nlohmann::json j = spec.toJson();
    j["method"] = method;
    j["method_params"] = methodParams;
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

namespace {
// [rows, cols] row-major -> [cols, rows].
std::vector<float> transpose(const std::vector<float>& x, std::int64_t rows, std::int64_t cols) {
    std::vector<float> t(x.size());
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c) t[c * rows + r] = x[r * cols + c];
    return t;
}
} // namespace

ModelQuantResult quantizeModel(const Model& model, const Registries& registries, const QuantJob& job,
                               const JobContext& ctx, bool keepWeights,
                               const std::function<void(const LayerQuantResult&)>& onLayer,
                               const CalibrationData* calibration) {
    const auto start = std::chrono::steady_clock::now();
    const Quantizer& method = registries.quantizers.get(job.method, "method");
    const nlohmann::json params = validateParams(method.params(), job.methodParams, "method " + job.method);
    const bool calibrated = method.needsCalibration();
    if (calibrated && (!calibration || calibration->windows.empty()))
        throw Error("method " + job.method + " needs calibration data: give --calib FILE [--calib-windows N]");

    ModelQuantResult result;
    result.job = job;
    result.job.methodParams = params;
    // Basis changes first: the weight method quantizes the transformed weights.
    std::shared_ptr<const TransformedModel> transformed;
    if (!job.transforms.empty()) {
        for (auto& t : result.job.transforms)
            t.params = validateParams(registries.transforms.get(t.name, "transform").params(), t.params,
                                      "transform " + t.name);
        transformed = std::make_shared<const TransformedModel>(
            applyTransforms(model, registries.transforms, result.job.transforms, calibration, ctx));
        result.transformed = transformed;
    }
    std::vector<const WeightInfo*> targets;
    for (const auto& w : model.weights())
        if (w.quantizable) targets.push_back(&w);

    double quantBits = 0, otherBits = 0;
    for (const auto& w : model.weights())
        if (!w.quantizable) otherBits += static_cast<double>(numel(w.shape)) * 8.0 * dtypeSize(w.dtype);

    const auto total = static_cast<long long>(targets.size());
    long long done = 0;
    // Quantizes one weight; returns it in its stored layout.
    auto quantizeOne = [&](const WeightInfo& w, const LinearInputStats* input, const std::string& what) {
        ctx.step(done++, total, what);
        const std::vector<float> original = transformed ? transformed->weightOutIn(model, w.name) : model.weightAsOutIn(w);
        const std::int64_t rows = w.matrixRows(), cols = w.matrixCols();
        std::vector<float> quantized(original.size());
        std::int64_t highColumns = -1; // mixed precision (resq): leading columns at high bits
        if (transformed)
            if (const auto it = transformed->highColumns.find(w.name); it != transformed->highColumns.end())
                highColumns = it->second;
        const bool mixed = highColumns >= 0;
        double mixedBits = 0;
        if (mixed)
            mixedBits = quantizeMixedColumns(method, {original.data(), rows, cols, w.name, input}, highColumns,
                                             highSpec(job.spec, transformed->highBits), job.spec, params,
                                             quantized.data(), ctx);
        else
            method.quantize({original.data(), rows, cols, w.name, input}, job.spec, params, quantized.data(), ctx);

        LayerQuantResult layer;
        layer.name = w.name;
        layer.rows = rows;
        layer.cols = cols;
        // The method's own count: codebooks or extra scales cost more than the spec says.
        layer.bitsPerWeight = mixed ? mixedBits : method.bitsPerWeight(job.spec, params, rows, cols);
        layer.error = computeError(original.data(), quantized.data(), rows * cols);
        quantBits += layer.bitsPerWeight * static_cast<double>(rows * cols);
        result.quantizedParams += rows * cols;
        if (onLayer) onLayer(layer);
        result.layers.push_back(std::move(layer));
        return w.transposed ? transpose(quantized, rows, cols) : std::move(quantized);
    };

    if (!calibrated) {
        for (const WeightInfo* w : targets) {
            auto q = quantizeOne(*w, nullptr, job.method + " " + w->name);
            if (keepWeights) result.weights[w->name] = std::move(q);
        }
    } else {
        // Layer-sequential: `current` holds the quantized layers < l; xs the inputs of layer l.
        const JobContext quiet{{}, ctx.cancel};
        CausalLm current(model, transformed ? transformed->weights : std::map<std::string, std::vector<float>>{}, quiet);
        if (transformed) current.setHooks(transformed->hooks()); // basis changes only, no quantization
        const int numLayers = current.numLayers();
        std::vector<RowMatrixF> xs;
        for (const auto& window : calibration->windows) xs.push_back(current.embed(window));
        std::vector<bool> covered(targets.size(), false);
        for (int l = 0; l < numLayers; ++l) {
            ctx.step(done, total, job.method + " layer " + std::to_string(l + 1) + "/" + std::to_string(numLayers) +
                                      ": calibration inputs");
            const std::vector<LinearInputSite> sites = current.layerSites(l);
            const std::vector<LinearInputStats> stats = collectLayerStats(current, l, xs, true, quiet);
            std::map<std::string, std::vector<float>> replaced;
            for (std::size_t t = 0; t < targets.size(); ++t) {
                const WeightInfo& w = *targets[t];
                if (w.layerIndex != l) continue;
                const LinearInputStats* input = nullptr;
                for (std::size_t s = 0; s < sites.size() && s < stats.size(); ++s)
                    for (const auto& name : sites[s].weights)
                        if (name == w.name) input = &stats[s];
                if (!input)
                    throw Error("method " + job.method + ": weight '" + w.name +
                                "' is not a decoder Linear the forward pass runs; it cannot be calibrated");
                covered[t] = true;
                auto q = quantizeOne(w, input,
                                     job.method + " layer " + std::to_string(l + 1) + "/" + std::to_string(numLayers) +
                                         " " + w.name);
                if (keepWeights) result.weights[w.name] = q;
                replaced[w.name] = std::move(q);
            }
            // Layer l with its quantized weights produces the inputs of layer l + 1.
            current = CausalLm(current, std::move(replaced));
            if (l + 1 < numLayers)
                for (RowMatrixF& x : xs) {
                    ctx.checkCancel();
                    current.runLayer(l, x);
                }
        }
        for (std::size_t t = 0; t < targets.size(); ++t)
            if (!covered[t])
                throw Error("method " + job.method + ": weight '" + targets[t]->name +
                            "' is outside the decoder layers and cannot be calibrated");
        result.calibration = {{"windows", calibration->windows.size()},
                              {"ctx", calibration->ctx},
                              {"tokens", calibration->tokens()}};
    }
    ctx.step(total, total, "quantization done");
    if (transformed && keepWeights) // replaced weights no quantizer touches (folded norms)
        for (const auto& [name, w] : transformed->weights)
            if (!result.weights.count(name)) result.weights[name] = w;

    result.totalParams = model.parameterCount();
    result.bitsPerWeight = result.quantizedParams ? quantBits / static_cast<double>(result.quantizedParams) : 0;
    result.modelBitsPerWeight =
        result.totalParams ? (quantBits + otherBits) / static_cast<double>(result.totalParams) : 0;
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

} // namespace qs::core
