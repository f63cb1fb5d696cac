// SPDX-License-Identifier: MIT
#include "eval/perplexity.h"

#include "eval/window_scores.h"
#include "base/error.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace qs::core {

nlohmann::json PerplexityResult::toJson() const {
    return {{"perplexity", perplexity},
            {"mean_nll", meanNll},
            {"tokens_scored", tokensScored},
            {"windows", windows},
            {"ctx", ctx},
            {"seconds", seconds},
            {"tokens_per_second", seconds > 0 ? static_cast<double>(windows) * ctx / seconds : 0.0}};
}

nlohmann::json KldStats::toJson() const {
    return {
        {"mean", mean}, {"mean_stderr", meanStdError},     {"median", median}, {"p99", p99}, {"p99_9", p999},
        {"max", max},   {"top1_agreement", top1Agreement}, {"tokens", tokens}};
}

nlohmann::json ComparisonResult::toJson() const {
    return {{"reference", reference.toJson()},
            {"candidate", candidate.toJson()},
            {"delta_perplexity", deltaPerplexity()},
            {"kld", kld.toJson()}};
}

PerplexityResult evaluatePerplexity(const CausalLm& lm, std::span<const std::int32_t> tokens,
                                    const EvalOptions& opts, const JobContext& job) {
    const auto start = std::chrono::steady_clock::now();
    const auto windows = splitWindows(tokens, opts);
    checkTargets(tokens.first(windows.size() * static_cast<std::size_t>(opts.ctx)), lm.vocabSize());
    std::vector<double> nll(windows.size(), 0.0);
    forEachWindowBatch(windows.size(), windowsPerBatch(windows.size(), opts.ctx, lm.vocabSize()), job, "perplexity",
                       [&](std::size_t begin, std::size_t end) {
                           const auto logits = lm.forwardBatch(std::span(windows).subspan(begin, end - begin));
                           for (std::size_t k = begin; k < end; ++k)
                               nll[k] = windowNll(logits[k - begin], windows[k], opts.scoreFrom);
                       });
    double sum = 0;
    for (double v : nll)
        sum += v; // fixed order: independent of the thread count
    return perplexityFromNll(sum, static_cast<long long>(windows.size()), opts.ctx, secondsSince(start), opts.scoreFrom);
}

ComparisonResult compareWithReference(const CausalLm& reference, const CausalLm& candidate,
                                      std::span<const std::int32_t> tokens, const EvalOptions& opts,
                                      const JobContext& job, std::span<const RowMatrixF> referenceLogits) {
    if (reference.vocabSize() != candidate.vocabSize())
        throw Error("reference and candidate models have different vocabularies (" +
                    std::to_string(reference.vocabSize()) + " vs " + std::to_string(candidate.vocabSize()) +
                    ")");
    return compareWithReference(
        reference,
        [&](std::size_t, std::span<const std::span<const std::int32_t>> windows) {
            return candidate.forwardBatch(windows);
        },
        tokens, opts, job, referenceLogits);
}

ComparisonResult compareWithReference(const CausalLm& reference, const WindowLogitsFn& candidateLogits,
                                      std::span<const std::int32_t> tokens, const EvalOptions& opts,
                                      const JobContext& job, std::span<const RowMatrixF> referenceLogits) {
    const auto start = std::chrono::steady_clock::now();
    const auto windows = splitWindows(tokens, opts);
    checkTargets(tokens.first(windows.size() * static_cast<std::size_t>(opts.ctx)), reference.vocabSize());
    if (!referenceLogits.empty() && (referenceLogits.size() != windows.size() ||
                                     referenceLogits.front().rows() != opts.ctx ||
                                     referenceLogits.front().cols() != reference.vocabSize()))
        throw Error("compareWithReference: the kept reference logits are not of these windows");
    ComparisonScores scores(windows.size(), opts.ctx, opts.scoreFrom);
    forEachWindowBatch(windows.size(), windowsPerBatch(windows.size(), opts.ctx, reference.vocabSize()), job,
                       "perplexity + KLD", [&](std::size_t begin, std::size_t end) {
                           const auto batch = std::span(windows).subspan(begin, end - begin);
                           const std::vector<RowMatrixF> logits = candidateLogits(begin, batch);
                           if (logits.size() != batch.size())
                               throw Error("compareWithReference: the candidate gave logits of " +
                                           std::to_string(logits.size()) + " windows for " +
                                           std::to_string(batch.size()));
                           std::vector<RowMatrixF> ref;
                           if (referenceLogits.empty()) ref = reference.forwardBatch(batch);
                           for (std::size_t k = begin; k < end; ++k)
                               scores.add(k, ref.empty() ? referenceLogits[k] : ref[k - begin], logits[k - begin],
                                          windows[k]);
                       });
    return scores.finish(secondsSince(start));
}

std::vector<RowMatrixF> referenceLogits(const CausalLm& reference, std::span<const std::int32_t> tokens,
                                        const EvalOptions& opts, std::size_t byteLimit, const JobContext& job) {
    const auto windows = splitWindows(tokens, opts);
    const double bytes = static_cast<double>(windows.size()) * opts.ctx * reference.vocabSize() * sizeof(float);
    if (bytes > static_cast<double>(byteLimit)) return {};
    checkTargets(tokens.first(windows.size() * static_cast<std::size_t>(opts.ctx)), reference.vocabSize());
    std::vector<RowMatrixF> logits(windows.size());
    forEachWindowBatch(windows.size(), windowsPerBatch(windows.size(), opts.ctx, reference.vocabSize()), job,
                       "reference logits", [&](std::size_t begin, std::size_t end) {
                           auto batch = reference.forwardBatch(std::span(windows).subspan(begin, end - begin));
                           std::move(batch.begin(), batch.end(), logits.begin() + static_cast<std::ptrdiff_t>(begin));
                       });
    return logits;
}

} // namespace qs::core
