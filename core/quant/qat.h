// SPDX-License-Identifier: MIT
#pragma once
// Quantization-aware training: the registered method "qat" trains every weight of the model through
// its fake-quantized forward pass (straight-through estimator) on the calibration windows.
#include "data/calib_data.h"
#include "quant/method_registries.h"
#include "quant/model_quantizer.h"
#include "quant/quantizer.h"

namespace qs::core {

/// QAT's parameters, from validated "qat" parameters.
struct QatOptions {
    int steps = 300;        ///< Adam steps
    double lr = 1e-4;       ///< peak learning rate (cosine decay to 0 over the steps)
    int batch = 8;          ///< windows of ctx tokens per step ("train_batch"), drawn at random offsets
    std::uint64_t seed = 0; ///< batch draws
    std::string init = "rtn"; ///< "rtn": start from the float weights; "gptq": from GPTQ's (same data)
    double holdout = 0.05;  ///< share of calibration windows held out for early stopping (0: none)
    int evalEvery = 25;     ///< steps between held-out evaluations
    bool learnScales = false; ///< "scales": "learned" trains every run's scale too (LSQ), "fixed" refits them
    double scaleLr = 1e-3;  ///< peak learning rate of the log-scales (cosine decay like lr)

    static QatOptions fromJson(const nlohmann::json& params);
};

/// The "qat" registry entry. It trains the whole model at once, so it runs through quantizeModel
/// (trainsModel()); quantize() of one weight alone is an error.
class QatQuantizer final : public Quantizer {
public:
    std::string_view name() const override { return "qat"; }
    std::string_view summary() const override {
        return "quantization-aware training: every weight trained through the fake-quantized model (Adam, "
               "straight-through) on the calibration windows";
    }
    const ParamSchema& params() const override;
    bool needsCalibration() const override { return true; }
    bool trainsModel() const override { return true; }
    void quantize(const WeightMatrix& w, const QuantSpec& spec, const nlohmann::json& params, float* out,
                  const JobContext& job) const override;
};

/// Runs QAT for `job` (method "qat", parameters validated; layer rules may change a weight's format
/// or keep it, not its method; transforms before it, such as rotate, are applied first and training
/// runs in their basis through their online rotations; resq's high-precision columns are refused):
/// latent weights start from the (transformed) model's, or GPTQ's, each step draws
/// `batch` windows of ctx tokens at random offsets of the training text (the calibration windows not
/// held out), computes the loss of the model whose quantized weights are Q(latent) and
/// whose other weights are the latent ones, and moves every latent weight by Adam along dL/dQ(latent)
/// (straight-through) or dL/dW. Every evalEvery steps the held-out windows' loss is measured and the
/// best latent weights kept. With fixed scales every step refits them to the latent weights (the
/// recipe's RTN); with learned ones (LSQ) each run's scale is fitted once and then trained by Adam on
/// its logarithm, the weights' straight-through gradient cut where their run's grid clips them.
/// The result quantizes the best latent weights exactly as the training's forward pass did (the
/// recipe's RTN, or the best learned scales) and holds the trained unquantized weights (norms,
/// embeddings, head, biases) too; `calibration` records the training ("qat": losses, steps, time,
/// and how far learned scales moved).
/// Deterministic for a seed at any thread count. Progress per step with the running loss; Cancelled.
ModelQuantResult trainQuantized(const Model& model, const MethodRegistries& registries, const QuantJob& job,
                                const JobContext& ctx, bool keepWeights,
                                const std::function<void(const LayerQuantResult&)>& onLayer,
                                const CalibrationData& calibration);

} // namespace qs::core
