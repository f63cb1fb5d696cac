// SPDX-License-Identifier: MIT
#pragma once
#include "base/job.h"
#include "data/windows.h"
#include "nn/causal_lm.h"

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <vector>

namespace qs::core {

/// Perplexity of one model: NLL summed in float64 over every scored token.
struct PerplexityResult {
    double perplexity = 0;      ///< exp(meanNll)
    double meanNll = 0;         ///< nats per scored token
    long long tokensScored = 0; ///< windows * (ctx - 1)
    long long windows = 0;
    int ctx = 0;
    double seconds = 0; ///< wall time of the evaluation

    /// {"perplexity", "mean_nll", "tokens_scored", "windows", "ctx", "seconds", "tokens_per_second"}.
    nlohmann::json toJson() const;
};

/// Distribution distance between a model and its reference over the scored positions
/// (the statistics llama.cpp's perplexity tool prints with --kl-divergence).
struct KldStats {
    double mean = 0;         ///< mean KL(P_ref || P) in nats
    double meanStdError = 0; ///< standard error of the mean
    double median = 0;
    double p99 = 0;  ///< 99th percentile (linear interpolation)
    double p999 = 0; ///< 99.9th percentile
    double max = 0;
    double top1Agreement = 0; ///< share of positions where both argmax tokens agree (0..1)
    long long tokens = 0;

    /// {"mean", "mean_stderr", "median", "p99", "p99_9", "max", "top1_agreement", "tokens"}.
    nlohmann::json toJson() const;
};

/// A candidate (e.g. quantized) model against a reference model on the same windows.
struct ComparisonResult {
    PerplexityResult reference;
    PerplexityResult candidate;
    KldStats kld;

    /// candidate.perplexity - reference.perplexity.
    double deltaPerplexity() const { return candidate.perplexity - reference.perplexity; }
    /// {"reference": {...}, "candidate": {...}, "delta_perplexity", "kld": {...}}.
    nlohmann::json toJson() const;
};

/// Perplexity of `lm` on `tokens` (progress per window, cancellable). Windows run in parallel on
/// omp_get_max_threads() threads, each single-threaded, so the result does not depend on the thread
/// count.
PerplexityResult evaluatePerplexity(const CausalLm& lm, std::span<const std::int32_t> tokens,
                                    const EvalOptions& opts, const JobContext& job);

/// Perplexity of both models and the KL divergence / top-1 agreement of `candidate` against
/// `reference`, a batch of windows at a time (windowsPerBatch: logits are never stored beyond one
/// batch per thread).
/// `referenceLogits`, when not empty, holds the reference's logits of every window (from
/// referenceLogits() on the same tokens and options): the reference's forward passes are skipped and
/// the result is the same bit for bit.
ComparisonResult compareWithReference(const CausalLm& reference, const CausalLm& candidate,
                                      std::span<const std::int32_t> tokens, const EvalOptions& opts,
                                      const JobContext& job, std::span<const RowMatrixF> referenceLogits = {});

/// The logits of windows first, first + 1, ... of `tokens` (`windows` holds their tokens) of a
/// candidate computed some other way, e.g. from residual streams kept from an earlier evaluation.
using WindowLogitsFn =
    std::function<std::vector<RowMatrixF>(std::size_t first, std::span<const std::span<const std::int32_t>> windows)>;

/// compareWithReference with the candidate's logits from `candidateLogits`: the same windows, scores
/// and summation, so the same bits wherever it returns what candidate.forward(window) would.
ComparisonResult compareWithReference(const CausalLm& reference, const WindowLogitsFn& candidateLogits,
                                      std::span<const std::int32_t> tokens, const EvalOptions& opts,
                                      const JobContext& job, std::span<const RowMatrixF> referenceLogits = {});

/// The logits [ctx, vocab] of `reference` on every window of `tokens`, for the comparisons of many
/// candidates with one reference (a sweep): empty when they would take more than `byteLimit`.
std::vector<RowMatrixF> referenceLogits(const CausalLm& reference, std::span<const std::int32_t> tokens,
                                        const EvalOptions& opts, std::size_t byteLimit, const JobContext& job);

} // namespace qs::core
