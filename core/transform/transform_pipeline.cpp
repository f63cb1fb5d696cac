// SPDX-License-Identifier: MIT
#include "transform/transform_pipeline.h"

#include "base/error.h"

#include <sstream>

namespace qs::core {

TransformedModel applyTransforms(const Model& model, const Registry<ModelTransform>& transforms,
                                 const std::vector<TransformStep>& steps, const CalibrationData* calibration,
                                 const JobContext& job) {
    TransformedModel result;
    if (steps.empty()) return result;
    const JobContext quiet{{}, job.cancel};
    const CausalLm base(model, {}, quiet);
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const ModelTransform& t = transforms.get(steps[i].name, "transform");
        const nlohmann::json params = validateParams(t.params(), steps[i].params, "transform " + steps[i].name);
        if (t.needsCalibration() && (!calibration || calibration->windows.empty()))
            throw Error("transform " + steps[i].name + " needs calibration data: give --calib FILE [--calib-windows N]");
        job.step(static_cast<long long>(i), static_cast<long long>(steps.size()), "transform " + steps[i].name);
        // The model so far: replaced weights and online transforms, no quantization.
        CausalLm current(base, result.weights);
        current.setHooks(result.hooks());
        t.apply({model, current, calibration, quiet}, params, result);
    }
    job.step(static_cast<long long>(steps.size()), static_cast<long long>(steps.size()), "transforms done");
    return result;
}

void requirePerLayerTransforms(const Registry<ModelTransform>& transforms, const std::vector<TransformStep>& steps) {
    for (const TransformStep& step : steps)
        if (!transforms.get(step.name, "transform").perLayer())
            throw Error("transform '" + step.name +
                        "' needs the whole model or its calibration statistics, not one layer at a time: "
                        "--low-memory (layer-major evaluation) applies only layer-local transforms (rotate, resq)");
}

TransformedModel applyTransformsToLayer(const Model& model, const CausalLm& lm, const Registry<ModelTransform>& transforms,
                                        const std::vector<TransformStep>& steps, int layer, const JobContext& job,
                                        const CalibrationData* calibration, std::vector<RowMatrixF>* calibrationStream) {
    requirePerLayerTransforms(transforms, steps);
    TransformedModel result;
    int calibrated = 0;
    for (const TransformStep& step : steps) {
        const ModelTransform& t = transforms.get(step.name, "transform");
        const nlohmann::json params = validateParams(t.params(), step.params, "transform " + step.name);
        TransformInput in{model, lm, nullptr, JobContext{{}, job.cancel}};
        in.onlyLayer = layer;
        if (t.needsCalibration()) {
            // One stream carries one transform's view of the windows: a second calibrated step would
            // need the stream through the first one's result.
            if (++calibrated > 1) throw Error("one layer at a time takes at most one calibrated transform (" + step.name + ")");
            if (!calibration || !calibrationStream)
                throw Error("transform " + step.name + " needs calibration data: give --calib FILE [--calib-windows N]");
            in.calibration = calibration;
            in.layerStream = calibrationStream;
        }
        t.apply(in, params, result);
    }
    return result;
}

void addLayerDescription(TransformedModel& summary, const TransformedModel& layer) {
    if (summary.applied.empty()) {
        summary.applied = layer.applied;
        summary.onlineParameters = layer.onlineParameters;
        summary.highBits = layer.highBits;
        summary.online = layer.online;
        return;
    }
    for (std::size_t i = 0; i < summary.applied.size() && i < layer.applied.size(); ++i) {
        nlohmann::json& notes = summary.applied[i]["notes"];
        const nlohmann::json& more = layer.applied[i].value("notes", nlohmann::json::object());
        if (!notes.is_object() || !more.is_object()) continue;
        for (auto it = more.begin(); it != more.end(); ++it)
            if (it.value().is_array() && notes.contains(it.key()) && notes[it.key()].is_array())
                for (const auto& item : it.value()) notes[it.key()].push_back(item);
    }
}

bool needsCalibration(const Registry<ModelTransform>& transforms, const std::vector<TransformStep>& steps) {
    for (const TransformStep& step : steps)
        if (transforms.get(step.name, "transform").needsCalibration()) return true;
    return false;
}

MethodChain parseMethodChain(const std::string& text, const Registry<ModelTransform>& transforms) {
    std::vector<std::string> parts;
    std::stringstream ss(text);
    std::string part;
    while (std::getline(ss, part, '+')) parts.push_back(part);
    if (!text.empty() && text.back() == '+') parts.emplace_back();
    MethodChain chain;
    for (const auto& p : parts)
        if (p.empty()) throw Error("--method " + text + ": empty part (expected TRANSFORM+...+METHOD)");
    if (parts.empty()) throw Error("--method: empty");
    // A chain of transforms only ("--method rotate") quantizes the weights with rtn.
    const bool lastIsTransform = transforms.find(parts.back()) != nullptr;
    chain.quantizer = lastIsTransform ? "rtn" : parts.back();
    const std::size_t n = lastIsTransform ? parts.size() : parts.size() - 1;
    for (std::size_t i = 0; i < n; ++i) {
        transforms.get(parts[i], "transform");
        chain.transforms.push_back(parts[i]);
    }
    return chain;
}

} // namespace qs::core
