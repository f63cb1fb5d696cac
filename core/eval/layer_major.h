// SPDX-License-Identifier: MIT
#pragma once
#include "data/calib_data.h"
#include "quant/method_registries.h"
#include "base/job.h"
#include "quant/model_quantizer.h"
#include "eval/perplexity.h"
#include "model/model.h"
#include "nn/causal_lm.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace qs::core {

/// What a layer-major evaluation compares with the float32 model.
struct LayerMajorCandidate {
    /// A weight recipe applied to one layer at a time (any method; layer-local transforms such as
    /// rotate, applied per layer); none: the candidate keeps the float32 weights.
    std::optional<QuantJob> weights;
    /// The candidate's activation / KV-cache hooks (the reference runs without hooks).
    ForwardHooks hooks;
    /// Needed with `weights`: where the method is looked up.
    const MethodRegistries* registries = nullptr;
    /// Needed with a calibrated method (gptq, gptvq, awq, dgq): the windows whose hidden states are
    /// carried layer by layer through the quantized model, as quantizeModel does. Must outlive the call.
    const CalibrationData* calibration = nullptr;
};

/// A layer-major evaluation: the same numbers as evaluatePerplexity / compareWithReference.
struct LayerMajorResult {
    /// The model's perplexity, or the candidate's when compared.
    PerplexityResult perplexity;
    /// Reference, candidate and KLD / top-1 agreement when a candidate was given.
    std::optional<ComparisonResult> comparison;
    /// The weight quantization (per-layer errors, bits per weight; no weights kept) when the
    /// candidate has a weight recipe.
    std::optional<ModelQuantResult> quant;
    /// The most float32 weight bytes held at once (CausalLm::peakWeightBytes()).
    std::size_t peakWeightBytes = 0;
};

/// Lets the file pages of decoder layer `layer`'s weights leave the resident set once the layer is
/// done (its loading and its quantization read them): otherwise a memory-mapped model ends up wholly
/// resident.
void dropLayerPages(const Model& model, int layer);

/// Throws Error unless `job` can run layer by layer: only perLayer() transforms (every built-in one;
/// smoothquant and resq take each layer's statistics from the calibration windows carried through the
/// transformed layers before it) and no method that trains the whole model. The message names the
/// transform or method; an unknown method is an Error too.
void checkLayerMajorRecipe(const QuantJob& job, const MethodRegistries& registries);

/// Perplexity of `model` on `tokens` (and, with `candidate`, the comparison compareWithReference
/// makes) computed layer-major: every window is embedded, then each decoder layer's weights are
/// converted to float32 (and, for a quantized candidate, quantized with the recipe) for that layer
/// only, every window's reference (and candidate) hidden state runs through it, and the layer is
/// released; finally the logits of each window are scored. A calibrated method quantizes layer l
/// with ModelQuantizer::quantizeLayer, quantizeModel's own step, from the calibration windows'
/// hidden states entering it, so the weights equal quantizeModel's. Memory: the hidden states of
/// all windows (2 x windows x ctx x hidden floats with a candidate, plus calibration windows x ctx
/// x hidden floats with a calibrated method and as many again with a calibrated transform, and that
/// method's input statistics for one layer, e.g. a Gram matrix per Linear input) plus one layer plus
/// the embedding, final norm and head.
/// Windows run in parallel as in evaluatePerplexity, so the numbers equal the window-major ones.
/// Progress per layer, cancellable. Throws Error as evaluatePerplexity does, for a recipe
/// checkLayerMajorRecipe() rejects, and for a calibrated method without `calibration`.
LayerMajorResult evaluateLayerMajor(const Model& model, std::span<const std::int32_t> tokens,
                                    const EvalOptions& opts,
                                    const std::optional<LayerMajorCandidate>& candidate,
                                    const JobContext& job);

} // namespace qs::core
