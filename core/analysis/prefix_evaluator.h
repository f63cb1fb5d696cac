// SPDX-License-Identifier: MIT
// The primitive every perturbation analysis stands on: evaluate the model with some weights replaced,
// on a fixed sensitivity set, against the float32 model — rerunning only the layers a change reaches.
#pragma once
#include "base/job.h"
#include "model/model.h"
#include "nn/causal_lm.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace qs::core {

/// Scores of one evaluation over the sensitivity set against the float32 model.
struct PerturbedScores {
    double nll = 0;  ///< mean NLL over the scored tokens (nats)
    double kld = 0;  ///< mean KL(P_fp32 || P) over the scored positions
    double top1 = 1; ///< share of positions whose argmax agrees with the float32 model
};

/// The model an analysis's evaluations run on: a copy of `lm` sharing its weights, with bf16 products
/// (ForwardHooks::bf16Products) when asked. Calibration and backward passes keep `lm` (float32).
CausalLm evaluationModel(const CausalLm& lm, bool bf16Products);

/// Evaluates replaced weights on fixed windows. The constructor runs the float32 model once and keeps
/// the residual stream entering every decoder layer (the prefix cache) and the reference's logits
/// (while they fit `logitBytesLimit`; otherwise they are recomputed from the kept last hidden state).
/// evaluate() then starts at the first layer a replaced weight belongs to: a change of layer l costs
/// the layers l..L-1 and the head, not the whole model. Windows run in parallel, each on one thread,
/// and sums run in window order, so results do not depend on the thread count; an evaluation that
/// replaces nothing equals the reference exactly.
class PrefixEvaluator {
public:
    struct Options {
        bool prefixCache = true; ///< false: every evaluation reruns every layer (to time what the cache saves)
        std::size_t logitBytesLimit = 512u << 20; ///< keep reference logits up to this size
    };

    /// `lm` (fully loaded) and `model` must outlive the evaluator. Throws Error for a token outside
    /// the vocabulary or windows shorter than 2 tokens; Cancelled.
    PrefixEvaluator(const Model& model, const CausalLm& lm, std::vector<std::vector<std::int32_t>> windows,
                    const Options& options, const JobContext& job);

    /// The float32 model's scores (kld 0, top1 1).
    const PerturbedScores& reference() const { return m_reference; }
    /// Scores with `replaced` weights (name -> float32 in the stored layout, as CausalLm takes them).
    /// Throws Error for a name the forward pass does not read or of the wrong size; Cancelled.
    PerturbedScores evaluate(std::map<std::string, std::vector<float>> replaced, const JobContext& job);

    /// The float32 residual stream entering decoder layer `layer` (layer == numLayers: the last
    /// layer's output), one matrix [ctx, hidden] per window.
    const std::vector<RowMatrixF>& layerInputs(int layer) const;
    int numLayers() const { return m_lm.numLayers(); }
    /// Tokens scored per evaluation.
    std::int64_t scoredTokens() const;

    /// Evaluations made, and decoder-layer runs (one layer over one window) they cost; the runs they
    /// would have cost without the prefix cache.
    long long evaluations() const { return m_evaluations; }
    long long layerRuns() const { return m_layerRuns; }
    long long layerRunsWithoutCache() const { return m_evaluations * numLayers() * (long long)m_windows.size(); }

private:
    int firstLayer(const std::map<std::string, std::vector<float>>& replaced) const;

    const Model& m_model;
    const CausalLm& m_lm;
    Options m_options;
    std::vector<std::vector<std::int32_t>> m_windows;
    std::vector<std::vector<RowMatrixF>> m_hidden; ///< [layer][window], layer 0..numLayers
    std::vector<RowMatrixF> m_referenceLogits;     ///< per window, empty when over the limit
    std::map<std::string, int> m_layerOf;
    PerturbedScores m_reference;
    long long m_evaluations = 0, m_layerRuns = 0;
};

} // namespace qs::core
