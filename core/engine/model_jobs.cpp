// SPDX-License-Identifier: MIT
#include "engine/model_jobs.h"

#include "quant/quantizer.h"

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
    return {{"recipe", job.toJson()},
            {"bits_per_weight", bitsPerWeight},
            {"model_bits_per_weight", modelBitsPerWeight},
            {"quantized_parameters", quantizedParams},
            {"total_parameters", totalParams},
            {"seconds", seconds},
            {"layers", layerArr}};
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
                               const std::function<void(const LayerQuantResult&)>& onLayer) {
    const auto start = std::chrono::steady_clock::now();
    const Quantizer& method = registries.quantizers.get(job.method, "method");
    const nlohmann::json params = validateParams(method.params(), job.methodParams, "method " + job.method);
    if (method.needsCalibration())
        throw Error("method " + job.method + " needs calibration data, which this build cannot collect yet");

    ModelQuantResult result;
    result.job = job;
    result.job.methodParams = params;
    std::vector<const WeightInfo*> targets;
    for (const auto& w : model.weights())
        if (w.quantizable) targets.push_back(&w);

    double quantBits = 0, otherBits = 0;
    for (const auto& w : model.weights())
        if (!w.quantizable) otherBits += static_cast<double>(numel(w.shape)) * 8.0 * dtypeSize(w.dtype);

    for (std::size_t i = 0; i < targets.size(); ++i) {
        const WeightInfo& w = *targets[i];
        ctx.step(static_cast<long long>(i), static_cast<long long>(targets.size()), job.method + " " + w.name);
        const std::vector<float> original = model.weightAsOutIn(w);
        const std::int64_t rows = w.matrixRows(), cols = w.matrixCols();
        std::vector<float> quantized(original.size());
        method.quantize({original.data(), rows, cols, w.name}, job.spec, params, quantized.data(), ctx);

        LayerQuantResult layer;
        layer.name = w.name;
        layer.rows = rows;
        layer.cols = cols;
        layer.bitsPerWeight = job.spec.bitsPerWeight(rows, cols);
        layer.error = computeError(original.data(), quantized.data(), rows * cols);
        quantBits += job.spec.totalBits(rows, cols);
        result.quantizedParams += rows * cols;
        if (onLayer) onLayer(layer);
        result.layers.push_back(std::move(layer));
        if (keepWeights)
            result.weights[w.name] = w.transposed ? transpose(quantized, rows, cols) : std::move(quantized);
    }
    ctx.step(static_cast<long long>(targets.size()), static_cast<long long>(targets.size()), "quantization done");

    result.totalParams = model.parameterCount();
    result.bitsPerWeight = result.quantizedParams ? quantBits / static_cast<double>(result.quantizedParams) : 0;
    result.modelBitsPerWeight =
        result.totalParams ? (quantBits + otherBits) / static_cast<double>(result.totalParams) : 0;
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

} // namespace qs::core
