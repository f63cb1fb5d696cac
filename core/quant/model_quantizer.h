// SPDX-License-Identifier: MIT
#pragma once
#include "statistics/error_metrics.h"
#include "statistics/tensor_stats.h"
#include "data/calib_data.h"
#include "statistics/linear_stats.h"
#include "quant/method_registries.h"
#include "base/job.h"
#include "model/model.h"
#include "nn/causal_lm.h"
#include "quant/layer_rules.h"
#include "quant/quant_spec.h"
#include "transform/model_transform.h"

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace qs::core {

class Quantizer;

/// One row of the layer table: a weight and its distribution.
struct LayerReport {
    WeightInfo info;
    TensorStats stats;
};

/// Statistics of every weight of a model (progress per weight, cancellable).
std::vector<LayerReport> inspectModel(const Model& model, const JobContext& job);

/// What to run: a registered method, a weight spec and the method's own parameters.
struct QuantJob {
    std::string method = "rtn";
    QuantSpec spec;
    nlohmann::json methodParams = nlohmann::json::object();
    /// Basis changes applied before the weight quantizer, in order (--method rotate+gptq); the
    /// quantizer then sees the transformed weights (and, calibrated, the transformed inputs).
    std::vector<TransformStep> transforms;
    /// Per-layer exceptions to the default above, in order (later rules win); transforms stay
    /// whole-model. Validated and resolved against the default by recipeFromJson.
    std::vector<LayerRule> layers;

    /// The default assignment (method, spec, method params).
    WeightAssignment defaults() const;
    /// What happens to weight `name` (the last matching rule, else the default).
    WeightAssignment assignmentFor(std::string_view name) const { return qs::core::assignmentFor(defaults(), layers, name); }
    /// The JSON shape of recipes; "layers" (canonical rules, see effectiveRules) only when a rule acts.
    nlohmann::json toJson() const;
};

/// Error of one quantized weight.
struct LayerQuantResult {
    std::string name;
    std::string assignment; ///< WeightAssignment::label(): "keep" or "rtn int8 sym channel"
    bool kept = false;      ///< left at its stored value (bits at its stored width)
    std::int64_t rows = 0, cols = 0;
    double bitsPerWeight = 0;
    ErrorMetrics error;

    nlohmann::json toJson() const;
};

/// Result of quantizing every quantizable weight of a model.
struct ModelQuantResult {
    QuantJob job;
    std::vector<LayerQuantResult> layers;
    double bitsPerWeight = 0;      ///< over the quantization scope (kept weights at their stored width),
                                   ///< scales and zero points included
    double modelBitsPerWeight = 0; ///< over all parameters; unquantized ones at their stored width
    std::int64_t quantizedParams = 0; ///< weights of the quantization scope, kept ones included
    std::int64_t keptParams = 0;      ///< of those, left unquantized by a "keep" rule
    std::int64_t totalParams = 0;
    double seconds = 0;
    /// Dequantized weights in their stored layout, when asked for (for writing a model).
    std::map<std::string, std::vector<float>> weights;
    /// Calibration used (calibrated methods only): {"windows", "ctx", "tokens"}; null otherwise.
    nlohmann::json calibration;
    /// The transformed model when job.transforms is not empty: its non-quantized replaced weights
    /// (norms) are in `weights` too; its hooks() must be installed on the quantized model.
    std::shared_ptr<const TransformedModel> transformed;

    /// The hooks of the quantized model's forward pass: `user`'s activation / KV quantization plus
    /// the transforms' online basis changes, when there are any.
    ForwardHooks hooks(const ForwardHooks& user) const { return transformed ? transformed->hooks(user) : user; }

    nlohmann::json toJson() const;
};

/// quantizeModel's one implementation of turning weights into quantized ones, step by step, for the
/// drivers that walk the model themselves: quantizeModel (whole model) and evaluateLayerMajor (one
/// decoder layer's float32 weights at a time). It owns the accounting (per-weight errors, bits per
/// weight) and, for a calibrated method, the per-layer step of the GPTQ protocol.
/// Throws Error naming `method` when it is `calibrated` and `calibration` holds no window.
void requireCalibration(const std::string& method, bool calibrated, const CalibrationData* calibration);

class ModelQuantizer {
public:
    /// Looks the methods up and validates their parameters (`job.transforms` must already be validated
    /// and applied into `transformed`, or be empty), and resolves every target's assignment from the
    /// layer rules. Throws Error for an unknown method, bad parameters or a layer rule that matches no
    /// quantizable weight of the model.
    /// `onLayer` sees each weight's result as it is done.
    ModelQuantizer(const Model& model, const MethodRegistries& registries, const QuantJob& job, const JobContext& ctx,
                   std::shared_ptr<const TransformedModel> transformed = nullptr,
                   std::function<void(const LayerQuantResult&)> onLayer = {});

    /// The transformed model the weights are taken from, once the transforms ran (before any weight
    /// is quantized): the driver checks the recipe and its calibration needs before that expensive step.
    void setTransformed(std::shared_ptr<const TransformedModel> transformed);
    /// Whether a weight's method needs calibration data (then use quantizeLayer, not quantizeWeight).
    bool calibrated() const;
    /// The first calibrated method a weight is assigned, or "" (for requireCalibration's message).
    std::string calibratedMethod() const;
    /// What the recipe makes of target `index` (see targets()).
    const WeightAssignment& assignment(std::size_t index) const { return m_assigned[index]; }
    /// The quantizable weights, in the model's order.
    const std::vector<const WeightInfo*>& targets() const { return m_targets; }
    /// Whether weight `name` was handed out quantized (or kept) by quantizeWeight, quantizeLayer or
    /// recordQuantized.
    bool covered(const std::string& name) const;

    /// Quantizes one weight (transformed when there are transforms) with the statistics of its input
    /// (null: data-free); returns it in its stored layout and records its LayerQuantResult.
    std::vector<float> quantizeWeight(const WeightInfo& w, const LinearInputStats* input, const std::string& what);

    /// Records weight w quantized by the driver itself ([out, in] layout, on the recipe's grid: QAT's
    /// learned scales) with the accounting quantizeWeight gives; returns it in its stored layout.
    /// Throws Error when the recipe keeps w or does not quantize it.
    std::vector<float> recordQuantized(const WeightInfo& w, std::vector<float> quantized, const std::string& what);

    /// The calibrated step for decoder layer `layer` (fixtures/README.md 2.6). `lm` holds that layer
    /// with the weights to quantize (float32, or transformed) and `calib` the calibration windows'
    /// hidden states entering it. Each of the layer's quantizable weights gets the statistics of its
    /// input, is quantized and installed in `lm` (CausalLm::replaceLayer: a layerByLayer() model
    /// drops the float32 layer before quantizing, so the two are never held together); when
    /// `advance`, `calib` then runs through the quantized layer and holds the inputs of layer + 1.
    /// Returns the quantized weights (stored layout) when `keepWeights`, else an empty map. Throws
    /// Error for a quantizable weight of the layer the forward pass does not feed; Cancelled.
    std::map<std::string, std::vector<float>> quantizeLayer(CausalLm& lm, int layer, std::vector<RowMatrixF>& calib,
                                                            bool advance, bool keepWeights);

    /// The summed result (no weights); `calibration` is recorded for a calibrated method. Throws
    /// Error when a calibrated method left a quantizable weight outside the decoder layers.
    ModelQuantResult finish(const CalibrationData* calibration);

private:
    const Model& m_model;
    const JobContext& m_ctx;
    std::shared_ptr<const TransformedModel> m_transformed;
    std::function<void(const LayerQuantResult&)> m_onLayer;
    std::vector<const WeightInfo*> m_targets;
    std::vector<WeightAssignment> m_assigned; ///< per target: what the recipe makes of it
    std::vector<const Quantizer*> m_methods;  ///< per target: its method (null when kept)
    std::vector<bool> m_covered;              ///< per target: quantized
    ModelQuantResult m_result;
    double m_quantBits = 0;
    long long m_done = 0;
    double m_seconds = 0; ///< spent in quantizeWeight / quantizeLayer (a driver's own work excluded)

    std::vector<float> quantizeOne(const WeightInfo& w, const LinearInputStats* input, const std::string& what);
    /// The accounting of one quantized weight (error against `original`, bits); the stored layout.
    std::vector<float> record(const WeightInfo& w, LayerQuantResult layer, const std::vector<float>& original,
                              std::vector<float> quantized);
};

/// Quantizes every quantizable weight with `job`; `onLayer` sees each result as it is done.
/// A method that needsCalibration() runs layer-sequentially over `calibration` (the GPTQ protocol of
/// fixtures/README.md 2.6): for layer l the calibration windows run through layer l of the model whose
/// layers < l are already quantized, each Linear gets the statistics of its input (WeightMatrix::input),
/// and layer l's outputs are recomputed with its quantized weights as the inputs of layer l + 1.
/// Data-free methods ignore `calibration`. With `install` (a model of `model`, usually sharing a
/// reference's weights), every quantized weight, and every weight a transform replaced, goes into it as
/// it is made (one weight, or one layer under a calibrated method, at a time: a quantized Linear is then
/// held as codes, never beside the whole model's float32 copies); `weights` stays empty unless
/// `keepWeights`. `onWeight` sees each of those weights (stored layout) just before it is installed
/// or kept: what a caller needs of the values (an error histogram, a hash) without holding them all.
/// Throws Error for an unknown method, bad parameters or a calibrated method without calibration data;
/// Cancelled when cancelled.
using WeightObserver = std::function<void(const std::string& name, const std::vector<float>& values)>;
ModelQuantResult quantizeModel(const Model& model, const MethodRegistries& registries, const QuantJob& job,
                               const JobContext& ctx, bool keepWeights,
                               const std::function<void(const LayerQuantResult&)>& onLayer = {},
                               const CalibrationData* calibration = nullptr, CausalLm* install = nullptr,
                               const WeightObserver& onWeight = {});

} // namespace qs::core
