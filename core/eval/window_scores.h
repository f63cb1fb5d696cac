// SPDX-License-Identifier: MIT
#pragma once
#include "base/job.h"
#include "eval/perplexity.h"
#include "nn/causal_lm.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace qs::core {

/// Runs fn(k) for every window k: one window per thread at a time, each window single-threaded
/// inside; progress ("LABEL window i/n") and cancellation between rounds, on the calling thread.
/// The first exception a window throws is rethrown after its round.
void forEachWindow(std::size_t count, const JobContext& job, const std::string& label,
                   const std::function<void(std::size_t)>& fn);

/// Each window's embedding (the residual stream entering decoder layer 0), windows as forEachWindow runs them.
template <class Windows>
std::vector<RowMatrixF> embedWindows(const CausalLm& lm, const Windows& windows, const JobContext& job) {
    std::vector<RowMatrixF> out(windows.size());
    forEachWindow(windows.size(), job, "embed", [&](std::size_t k) { out[k] = lm.embed(windows[k]); });
    return out;
}

/// forEachWindow for batches: fn(begin, end) for consecutive windows [begin, end), at most `batch`
/// of them, one batch per thread at a time.
void forEachWindowBatch(std::size_t count, std::size_t batch, const JobContext& job, const std::string& label,
                        const std::function<void(std::size_t, std::size_t)>& fn);

/// How many of `count` windows of `ctx` tokens go through the model together (CausalLm::forwardBatch):
/// enough rows that packing each weight for the products costs little, few enough that a batch's
/// logits (`vocab` per token) stay small, and at least one batch per thread.
std::size_t windowsPerBatch(std::size_t count, int ctx, int vocab);

/// Runs decoder layer `layer` of `lm` on every window's residual stream in place (streams of one
/// length, windowsPerBatch of them stacked per product); each keeps the bits runLayer gives it alone.
void runLayerOnStreams(const CausalLm& lm, int layer, std::vector<RowMatrixF>& streams, const JobContext& job);

/// Wall seconds since `start` (the evaluations' reported time).
double secondsSince(std::chrono::steady_clock::time_point start);

/// Throws Error naming the index when a token lies outside the vocabulary 0..vocab-1.
void checkTargets(std::span<const std::int32_t> tokens, int vocab);

/// NLL summed over one window's scored tokens (positions scoreFrom..n-1, each from the logits of the
/// position before) from its logits [n, vocab].
double windowNll(const RowMatrixF& logits, std::span<const std::int32_t> window, int scoreFrom = 1);

/// The result of `windows` windows of `ctx` tokens, scored from position `scoreFrom` on, whose NLLs
/// sum to `sumNll`.
PerplexityResult perplexityFromNll(double sumNll, long long windows, int ctx, double seconds, int scoreFrom = 1);

/// Scores of a candidate against a reference, window by window: add() may run for distinct windows
/// on any threads in any order; finish() sums in window order, so the result does not depend on the
/// order (or the execution plan) the windows' logits came from.
class ComparisonScores {
public:
    /// Room for `windows` windows of `ctx` tokens, scored from position `scoreFrom` on.
    ComparisonScores(std::size_t windows, int ctx, int scoreFrom = 1);
    /// Scores window `k` from both models' logits [ctx, vocab]: NLLs, per-position KL(P_ref || P)
    /// and top-1 agreement.
    void add(std::size_t k, const RowMatrixF& reference, const RowMatrixF& candidate,
             std::span<const std::int32_t> window);
    /// Perplexities, KLD statistics and top-1 agreement over every window (all must have been added).
    ComparisonResult finish(double seconds);

private:
    int m_ctx;
    int m_scoreFrom;
    std::size_t m_perWindow;
    std::vector<double> m_refNll, m_candNll, m_kld;
    std::vector<long long> m_agree;
};

} // namespace qs::core
