// SPDX-License-Identifier: MIT
#include "analysis/prefix_evaluator.h"

#include "analysis/reference_scores.h"
#include "eval/residual_cache.h"
#include "base/error.h"
#include "eval/window_scores.h"

#include <algorithm>
#include <limits>

namespace qs::core {

CausalLm evaluationModel(const CausalLm& lm, bool bf16Products) {
    CausalLm out(lm, {});
    out.setHooks({.bf16Products = bf16Products});
    return out;
}

PrefixEvaluator::PrefixEvaluator(const Model& model, const CausalLm& lm,
                                 std::vector<std::vector<std::int32_t>> windows, const Options& options,
                                 const JobContext& job)
    : m_model(model), m_lm(lm), m_options(options), m_windows(std::move(windows)) {
    checkSensitivityWindows(m_windows, lm.vocabSize());
    for (const WeightInfo& w : model.weights()) m_layerOf[w.name] = w.layerIndex;
    const int layers = lm.numLayers();
    const std::size_t n = m_windows.size();
    const JobContext quiet{{}, job.cancel};
    m_hidden.assign(static_cast<std::size_t>(layers) + 1, std::vector<RowMatrixF>(n));
    job.step(0, layers + 1, "reference: embedding " + std::to_string(n) + " windows");
    m_hidden[0] = embedWindows(lm, m_windows, quiet);
    for (int l = 0; l < layers; ++l) {
        job.step(l, layers + 1, "reference: layer " + std::to_string(l + 1) + "/" + std::to_string(layers));
        m_hidden[l + 1] = m_hidden[l];
        runLayerOnStreams(lm, l, m_hidden[l + 1], quiet);
    }
    m_referenceLogits = keptReferenceLogits(lm, m_hidden[static_cast<std::size_t>(layers)], m_options.logitBytesLimit, quiet);
    // The reference scored against itself: the same code path as every evaluation.
    const long long before = m_layerRuns;
    m_reference = evaluate({}, quiet);
    m_evaluations = 0;
    m_layerRuns = before;
    job.step(layers + 1, layers + 1, "reference done");
}

const std::vector<RowMatrixF>& PrefixEvaluator::layerInputs(int layer) const {
    if (layer < 0 || layer > numLayers()) throw Error("layerInputs: bad layer " + std::to_string(layer));
    return m_hidden[static_cast<std::size_t>(layer)];
}

std::int64_t PrefixEvaluator::scoredTokens() const {
    return static_cast<std::int64_t>(m_windows.size()) * static_cast<std::int64_t>(m_windows.front().size() - 1);
}

int PrefixEvaluator::firstLayer(const std::map<std::string, std::vector<float>>& replaced) const {
    int first = numLayers();
    for (const auto& [name, values] : replaced) {
        const auto it = m_layerOf.find(name);
        if (it == m_layerOf.end()) throw Error("evaluate: the model has no weight '" + name + "'");
        // A weight outside the decoder layers (embedding, final norm, head) changes everything.
        first = std::min(first, it->second < 0 ? 0 : it->second);
    }
    return m_options.prefixCache ? first : (replaced.empty() ? numLayers() : 0);
}

PerturbedScores PrefixEvaluator::evaluate(std::map<std::string, std::vector<float>> replaced,
                                          const JobContext& job) {
    const int start = firstLayer(replaced); // 0 (from the variant's own embedding) when a weight outside the layers changed
    const CausalLm variant(m_lm, std::move(replaced)); // shares every weight it does not replace
    const int layers = numLayers();
    const PerturbedScores s = scoreAgainstReference(
        m_lm, m_windows, m_hidden[static_cast<std::size_t>(layers)], m_referenceLogits,
        [&](std::size_t begin, std::size_t end) {
            const std::vector<std::span<const std::int32_t>> batch(m_windows.begin() + static_cast<std::ptrdiff_t>(begin),
                                                                   m_windows.begin() + static_cast<std::ptrdiff_t>(end));
            return logitsFromLayer(variant, batch, start, &m_hidden[static_cast<std::size_t>(start)][begin], {}, {});
        },
        job);
    ++m_evaluations;
    m_layerRuns += static_cast<long long>(layers - start) * static_cast<long long>(m_windows.size());
    return s;
}

} // namespace qs::core
