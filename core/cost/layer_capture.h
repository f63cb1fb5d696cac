// SPDX-License-Identifier: MIT
// From a (quantized) model and calibration data to the layers the cost models price: each decoder
// Linear (language models) or Conv/Gemm/MatMul (ONNX) with its loop bounds, its weight codes as the
// recipe quantized them and its input codes as captured on the calibration data.
#pragma once
#include "base/job.h"
#include "cost/cost_layer.h"
#include "cost/cost_model.h"
#include "data/calib_data.h"
#include "eval/classifier_eval.h"
#include "model/model.h"
#include "model/onnx_model.h"
#include "quant/held_weights.h"
#include "quant/model_quantizer.h"
#include "quant/recipe.h"

#include <functional>
#include <optional>

namespace qs::core {

struct CaptureOptions {
    int nativeBits = 16;     ///< width of unquantized weights and activations (DNNsim's B)
    bool weights = true;     ///< fill weight codes
    bool activations = true; ///< run the calibration data and fill activation codes
    /// Language model without activations: the rows (tokens) each Linear is priced at.
    std::int64_t rowsWithoutData = 128;
};

/// What capturing found beside the layers.
struct CaptureSummary {
    CostModelContext context;
    std::int64_t offGridRuns = 0; ///< weight/activation runs on no grid of their format (rounded)
    std::int64_t rows = 0;        ///< activation rows per FC layer (tokens) or images per conv layer
};

/// Receives each layer as it is built (layers are not all held at once).
using LayerSink = std::function<void(CostLayer&& layer)>;

/// A language model's decoder Linears, in model order. `quantized` is the recipe's quantizeModel result
/// (its accounting and hooks; null: fp32, every weight at nativeBits) and `weights` the weights it made
/// (and those its transforms replaced), held compactly (quantizeModel's WeightObserver into
/// HeldWeights::add; null with `quantized`); activations run `data`'s windows through the model with
/// the recipe's activation/KV hooks (and its transforms' online rotations) and are read as each Linear
/// sees them. The model takes the held weights one at a time: no float32 copy of the whole quantized
/// model is made. Throws Error for a model the forward pass cannot run; Cancelled.
CaptureSummary captureLanguageModel(const Model& model, const Recipe& recipe, const ModelQuantResult* quantized,
                                    const HeldWeights* weights, const CalibrationData& data, const CaptureOptions& options,
                                    const LayerSink& sink, const JobContext& job);

/// An ONNX graph's Conv/Gemm/MatMul nodes, in graph order, activations captured on `images` (images
/// along dim 0) as each node reads them (after `activation` quantization when given). Throws Error
/// naming the file for a node it cannot price (dilations, unequal strides or pads); Cancelled.
CaptureSummary captureClassifier(const OnnxModel& model, const ModelQuantResult* quantized,
                                 std::optional<ActivationQuant> activation, const Tensor& images,
                                 const CaptureOptions& options, const LayerSink& sink, const JobContext& job);

} // namespace qs::core
