// SPDX-License-Identifier: MIT
#pragma once
#include "base/job.h"
#include "model/onnx_model.h"
#include "onnx/onnx_session.h"
#include "quant/quant_spec.h"

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace qs::core {

/// Fake quantization of the activation input of every Conv/Gemm/MatMul.
/// Static: one ScaleParams per linear node, fitted once from calibration ranges (per tensor).
/// Dynamic (staticParams empty): the spec fits its scales on each batch as it comes
/// (tensor: one scale per batch; token/group/block: per image for Conv, per row of the last dim
/// for Gemm/MatMul).
struct ActivationQuant {
    QuantSpec spec;
    std::vector<ScaleParams> staticParams;

    bool isStatic() const { return !staticParams.empty(); }
};

/// Range (min, max, absmax) of each linear node's activation input over all of `x` (images along
/// dim 0), measured with the fp32 model (unquantized weights, no activation quantization).
std::vector<RangeStats> calibrateActivationRanges(const OnnxModel& model, const Tensor& x, std::int64_t batch,
                                                  const JobContext& job);

/// Static activation quantization from calibration ranges: the spec's format fits one scale per
/// tensor (INT8 sym: scale = float32(absmax) / 127). Throws Error for a spec that is not per tensor.
ActivationQuant staticActivationQuant(const QuantSpec& spec, const std::vector<RangeStats>& ranges);

struct ClassifierResult;

/// An ONNX model as an image classifier: logits [N, classes] for inputs [N, ...], optionally with
/// replaced (fake-quantized) weights and activation fake quantization.
class OnnxClassifier {
public:
    /// `replaced`: initializer name -> values in the stored layout (e.g. ModelQuantResult::weights).
    explicit OnnxClassifier(const OnnxModel& model, const std::map<std::string, std::vector<float>>& replaced = {},
                            std::optional<ActivationQuant> activations = std::nullopt);
    /// Sees the activation input of every Conv/Gemm/MatMul as the node reads it (after activation
    /// quantization), with the node's index among linear nodes; called on the thread running the graph.
    OnnxClassifier(const OnnxClassifier&) = delete; // its session's hook points at this object
    OnnxClassifier& operator=(const OnnxClassifier&) = delete;
    using LinearInputObserver = std::function<void(std::size_t linearIndex, const OnnxNode& node, const OnnxValue& x)>;
    void setObserver(LinearInputObserver observer) { m_observer = std::move(observer); }

    /// Logits of every image of `x` (float32, images along dim 0), `batch` images at a time.
    /// Returns row-major [N, classes] and sets `classes`. Throws Error naming the model file.
    std::vector<float> logits(const Tensor& x, std::int64_t batch, std::int64_t& classes, const JobContext& job) const;
    /// Logits of `x` scored against `labels` (one per image).
    ClassifierResult evaluate(const Tensor& x, const std::vector<std::int64_t>& labels, std::int64_t batch,
                                     const JobContext& job) const;

private:
    const OnnxModel& m_model;
    OnnxSession m_session;
    std::optional<ActivationQuant> m_act;
    LinearInputObserver m_observer;
};

/// Accuracy of logits against labels.
struct ClassifierResult {
    std::int64_t n = 0;
    std::int64_t nCorrect = 0;
    std::int64_t classes = 0;
    double accuracy = 0;
    std::vector<std::int64_t> predictions;   ///< argmax per image (first maximum on ties)
    std::vector<std::int64_t> misclassified; ///< indices, ascending

    /// {"accuracy", "n_correct", "n", "misclassified"}.
    nlohmann::json toJson() const;
};

/// Scores row-major logits [labels.size(), classes]. Throws Error when the sizes differ.
ClassifierResult scoreLogits(const std::vector<float>& logits, std::int64_t classes,
                             const std::vector<std::int64_t>& labels);

/// Share of images whose argmax agrees between two results over the same images.
double argmaxAgreement(const ClassifierResult& a, const ClassifierResult& b);

} // namespace qs::core
