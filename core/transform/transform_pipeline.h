// SPDX-License-Identifier: MIT
#pragma once
#include "base/registry.h"
#include "transform/model_transform.h"

#include <string>
#include <vector>

namespace qs::core {

/// Applies `steps` in order on `model` (each on the result of the ones before; the statistics a
/// calibrated transform collects come from that result, unquantized). Validates each step's
/// parameters against its schema (filled with defaults in the returned `applied`). Throws Error for an
/// unknown transform, bad parameters or a calibrated transform without `calibration`.
TransformedModel applyTransforms(const Model& model, const Registry<ModelTransform>& transforms,
                                 const std::vector<TransformStep>& steps, const CalibrationData* calibration,
                                 const JobContext& job);

/// Decoder layer `layer`'s part of applyTransforms (its weights, and every online transform), for
/// layer-major drivers: `lm` holds that layer (a layerByLayer() model will do). A calibrated step
/// (resq) takes its statistics from `calibrationStream`, the calibration windows' residual stream
/// entering the layer through the transformed, unquantized layers before it, and advances it through
/// this one: the driver calls this for layers 0, 1, ... in order with the same stream, started as
/// the windows' embeddings. Throws Error naming a transform that is not perLayer(), for a calibrated
/// step without the stream, and for more than one calibrated step.
TransformedModel applyTransformsToLayer(const Model& model, const CausalLm& lm, const Registry<ModelTransform>& transforms,
                                        const std::vector<TransformStep>& steps, int layer, const JobContext& job,
                                        const CalibrationData* calibration = nullptr,
                                        std::vector<RowMatrixF>* calibrationStream = nullptr);

/// Joins layer `layer`'s part (applyTransformsToLayer) into the whole model's description in
/// `summary` (what recipes and reports show; no weights or hooks): the first layer's as it is, then
/// each later layer's per-layer note lists (array-valued notes, e.g. resq's sites) appended.
void addLayerDescription(TransformedModel& summary, const TransformedModel& layer);

/// Whether any step needs calibration data.
bool needsCalibration(const Registry<ModelTransform>& transforms, const std::vector<TransformStep>& steps);

/// Throws Error unless every step names a perLayer() transform (what --low-memory can apply).
void requirePerLayerTransforms(const Registry<ModelTransform>& transforms, const std::vector<TransformStep>& steps);

/// A method chain "t1+t2+q": the transforms (every part but the last) and the weight quantizer (the
/// last part, or "rtn" when the chain holds transforms only). Throws Error for an empty part.
struct MethodChain {
    std::vector<std::string> transforms;
    std::string quantizer;
};
MethodChain parseMethodChain(const std::string& text, const Registry<ModelTransform>& transforms);

} // namespace qs::core
