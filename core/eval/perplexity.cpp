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
                                      const JobContext& job) {
    const auto start = std::chrono::steady_clock::now();
    if (reference.vocabSize() != candidate.vocabSize())
        throw Error("reference and candidate models have different vocabularies (" +
                    std::to_string(reference.vocabSize()) + " vs " + std::to_string(candidate.vocabSize()) +
                    ")");
    const auto windows = splitWindows(tokens, opts);
    checkTargets(tokens.first(windows.size() * static_cast<std::size_t>(opts.ctx)), reference.vocabSize());
    ComparisonScores scores(windows.size(), opts.ctx, opts.scoreFrom);
    forEachWindow(windows.size(), job, "perplexity + KLD", [&](std::size_t k) {
        scores.add(k, reference.forward(windows[k]), candidate.forward(windows[k]), windows[k]);
    });
    return scores.finish(secondsSince(start));
}

} // namespace qs::core
