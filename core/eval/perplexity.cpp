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
    forEachWindow(windows.size(), job, "perplexity",
                  [&](std::size_t k) { nll[k] = windowNll(lm.forward(windows[k]), windows[k], opts.scoreFrom); });
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
        reference, [&](std::size_t, std::span<const std::int32_t> window) { return candidate.forward(window); }, tokens,
        opts, job, referenceLogits);
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
    forEachWindow(windows.size(), job, "perplexity + KLD", [&](std::size_t k) {
        const RowMatrixF logits = candidateLogits(k, windows[k]);
        if (referenceLogits.empty())
            scores.add(k, reference.forward(windows[k]), logits, windows[k]);
        else
            scores.add(k, referenceLogits[k], logits, windows[k]);
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
    forEachWindow(windows.size(), job, "reference logits",
                  [&](std::size_t k) { logits[k] = reference.forward(windows[k]); });
    return logits;
}

} // namespace qs::core
