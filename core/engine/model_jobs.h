// SPDX-License-Identifier: MIT
#pragma once
#include "analysis/error_metrics.h"
#include "analysis/tensor_stats.h"
#include "calib/calib_data.h"
#include "engine/builtins.h"
#include "engine/job.h"
#include "model/model.h"
#include "quant/quant_spec.h"
#include "transform/model_transform.h"

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace qs::core {

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

    nlohmann::json toJson() const;
};

/// Error of one quantized weight.
struct LayerQuantResult {
    std::string name;
    std::int64_t rows = 0, cols = 0;
    double bitsPerWeight = 0;
    ErrorMetrics error;

    nlohmann::json toJson() const;
};

/// Result of quantizing every quantizable weight of a model.
struct ModelQuantResult {
    QuantJob job;
    std::vector<LayerQuantResult> layers;
    double bitsPerWeight = 0;      ///< over the quantized weights, scales and zero points included
    double modelBitsPerWeight = 0; ///< over all parameters; unquantized ones at their stored width
    std::int64_t quantizedParams = 0;
    std::int64_t totalParams = 0;
    double seconds = 0;
    /// Dequantized weights in their stored layout, when asked for (for writing a model).
    std::map<std::string, std::vector<float>> weights;
    /// Calibration used (calibrated methods only): {"windows", "ctx", "tokens"}; null otherwise.
    nlohmann::json calibration;
    /// The transformed model when job.transforms is not empty: its non-quantized replaced weights
    /// (norms) are in `weights` too; its hooks() must be installed on the quantized model.
    std::shared_ptr<const TransformedModel> transformed;

    nlohmann::json toJson() const;
};

/// Quantizes every quantizable weight with `job`; `onLayer` sees each result as it is done.
/// A method that needsCalibration() runs layer-sequentially over `calibration` (the GPTQ protocol of
/// fixtures/README.md 2.6): for layer l the calibration windows run through layer l of the model whose
/// layers < l are already quantized, each Linear gets the statistics of its input (WeightMatrix::input),
/// and layer l's outputs are recomputed with its quantized weights as the inputs of layer l + 1.
/// Data-free methods ignore `calibration`. Throws Error for an unknown method, bad parameters or a
/// calibrated method without calibration data; Cancelled when cancelled.
ModelQuantResult quantizeModel(const Model& model, const Registries& registries, const QuantJob& job,
                               const JobContext& ctx, bool keepWeights,
                               const std::function<void(const LayerQuantResult&)>& onLayer = {},
                               const CalibrationData* calibration = nullptr);

} // namespace qs::core
