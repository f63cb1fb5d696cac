// SPDX-License-Identifier: MIT
// Scoring against the float32 model on a sensitivity set, shared by the whole-model evaluator
// (PrefixEvaluator) and the layer-major sensitivity measurement, so both give the same bits.
#pragma once
#include "analysis/prefix_evaluator.h"
#include "base/error.h"
#include "eval/window_scores.h"

#include <cstddef>
#include <functional>
#include <vector>

namespace qs::core {

/// Throws Error unless the sensitivity set's windows all hold the same number (>= 2) of tokens,
/// each inside the vocabulary.
template <class Windows>
void checkSensitivityWindows(const Windows& windows, int vocab) {
    if (windows.empty()) throw Error("sensitivity set: no windows");
    for (const auto& w : windows) {
        if (w.size() < 2 || w.size() != windows.front().size())
            throw Error("sensitivity set: windows must hold the same number (>= 2) of tokens");
        checkTargets(w, vocab);
    }
}

/// The float32 model's logits of every window from its last hidden states, when they take at most
/// `byteLimit`; otherwise empty, and scoreAgainstReference recomputes them per window.
inline std::vector<RowMatrixF> keptReferenceLogits(const CausalLm& lm, const std::vector<RowMatrixF>& last,
                                                   std::size_t byteLimit, const JobContext& job) {
    std::vector<RowMatrixF> logits;
    if (last.empty() || double(last.size()) * double(last.front().rows()) * lm.vocabSize() * sizeof(float) > double(byteLimit))
        return logits;
    logits.resize(last.size());
    forEachWindow(last.size(), job, "logits", [&](std::size_t k) { logits[k] = lm.logits(last[k]); });
    return logits;
}

/// Mean NLL, mean KL to the float32 model and top-1 agreement of a candidate over the windows (a batch
/// per thread, windowsPerBatch; sums in window order): candidateLogits(begin, end) gives the logits of
/// windows [begin, end), the reference's come from `kept` (keptReferenceLogits) or from its last
/// hidden states `last`.
template <class Windows>
PerturbedScores scoreAgainstReference(
    const CausalLm& lm, const Windows& windows, const std::vector<RowMatrixF>& last, const std::vector<RowMatrixF>& kept,
    const std::function<std::vector<RowMatrixF>(std::size_t begin, std::size_t end)>& candidateLogits,
    const JobContext& job) {
    const int ctx = static_cast<int>(windows.front().size());
    ComparisonScores scores(windows.size(), ctx);
    forEachWindowBatch(windows.size(), windowsPerBatch(windows.size(), ctx, lm.vocabSize()), job, "evaluate",
                       [&](std::size_t begin, std::size_t end) {
                           const std::vector<RowMatrixF> candidate = candidateLogits(begin, end);
                           for (std::size_t k = begin; k < end; ++k) {
                               const RowMatrixF reference = kept.empty() ? lm.logits(last[k]) : RowMatrixF();
                               scores.add(k, kept.empty() ? reference : kept[k], candidate[k - begin], windows[k]);
                           }
                       });
    const ComparisonResult r = scores.finish(0);
    return {r.candidate.meanNll, r.kld.mean, r.kld.top1Agreement};
}

} // namespace qs::core
