// SPDX-License-Identifier: MIT
#include "eval/perplexity.h"

#include "eval/token_metrics.h"
#include "tensor/error.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <functional>
#include <omp.h>

namespace qs::core {

std::vector<std::span<const std::int32_t>> splitWindows(std::span<const std::int32_t> tokens,
                                                        const EvalOptions& opts) {
    if (opts.ctx < 2)
        throw Error("evaluation context must be at least 2 tokens, got " + std::to_string(opts.ctx));
    if (opts.maxWindows < 0) throw Error("number of windows must not be negative");
    const auto ctx = static_cast<std::size_t>(opts.ctx);
    std::size_t n = tokens.size() / ctx;
    if (opts.maxWindows > 0) n = std::min(n, static_cast<std::size_t>(opts.maxWindows));
    if (n == 0)
        throw Error("the data holds " + std::to_string(tokens.size()) + " tokens, fewer than one window of " +
                    std::to_string(ctx));
    std::vector<std::span<const std::int32_t>> windows;
    windows.reserve(n);
    for (std::size_t k = 0; k < n; ++k)
        windows.push_back(tokens.subspan(k * ctx, ctx));
    return windows;
}

namespace {

double secondsSince(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Runs fn(k) for every window k: batches of one window per thread, each window single-threaded
// inside; progress and cancellation between batches, on the calling thread.
void forEachWindow(std::size_t count, const JobContext& job, const std::string& label,
                   const std::function<void(std::size_t)>& fn) {
    const auto threads = static_cast<std::size_t>(std::max(1, omp_get_max_threads()));
    job.step(0, static_cast<long long>(count), label);
    for (std::size_t begin = 0; begin < count; begin += threads) {
        const std::size_t end = std::min(count, begin + threads);
        std::exception_ptr failure;
#pragma omp parallel for schedule(dynamic, 1) num_threads(static_cast <int>(end - begin))
        for (std::size_t k = begin; k < end; ++k) {
            omp_set_num_threads(1); // this thread's nested work (Eigen, fake quant) stays serial
            try {
                fn(k);
            } catch (...) {
#pragma omp critical(qs_eval_failure)
                if (!failure) failure = std::current_exception();
            }
        }
        if (failure) std::rethrow_exception(failure);
        job.step(static_cast<long long>(end), static_cast<long long>(count),
                 label + " window " + std::to_string(end) + "/" + std::to_string(count));
    }
}

PerplexityResult finish(double sumNll, long long scored, long long windows, int ctx, double seconds) {
    PerplexityResult r;
    r.tokensScored = scored;
    r.windows = windows;
    r.ctx = ctx;
    r.meanNll = scored ? sumNll / static_cast<double>(scored) : 0;
    r.perplexity = std::exp(r.meanNll);
    r.seconds = seconds;
    return r;
}

// NLL sum of one window's scored tokens.
double windowNll(const RowMatrixF& logits, std::span<const std::int32_t> w) {
    double sum = 0;
    const std::int64_t vocab = logits.cols();
    for (std::size_t p = 0; p + 1 < w.size(); ++p)
        sum += tokenNll(logits.data() + static_cast<std::int64_t>(p) * vocab, vocab, w[p + 1]);
    return sum;
}

void checkTargets(std::span<const std::int32_t> tokens, int vocab) {
    for (std::size_t i = 0; i < tokens.size(); ++i)
        if (tokens[i] < 0 || tokens[i] >= vocab)
            throw Error("token " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                        " is outside the model's vocabulary (0.." + std::to_string(vocab - 1) + ")");
}

} // namespace

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
                  [&](std::size_t k) { nll[k] = windowNll(lm.forward(windows[k]), windows[k]); });
    double sum = 0;
    for (double v : nll)
        sum += v; // fixed order: independent of the thread count
    const auto n = static_cast<long long>(windows.size());
    return finish(sum, n * (opts.ctx - 1), n, opts.ctx, secondsSince(start));
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
    const std::size_t perWindow = static_cast<std::size_t>(opts.ctx) - 1;
    std::vector<double> refNll(windows.size(), 0.0), candNll(windows.size(), 0.0);
    std::vector<double> kld(windows.size() * perWindow, 0.0);
    std::vector<long long> agree(windows.size(), 0);
    forEachWindow(windows.size(), job, "perplexity + KLD", [&](std::size_t k) {
        const RowMatrixF ref = reference.forward(windows[k]);
        const RowMatrixF cand = candidate.forward(windows[k]);
        refNll[k] = windowNll(ref, windows[k]);
        candNll[k] = windowNll(cand, windows[k]);
        const std::int64_t vocab = ref.cols();
        for (std::size_t p = 0; p < perWindow; ++p) {
            const float* r = ref.data() + static_cast<std::int64_t>(p) * vocab;
            const float* c = cand.data() + static_cast<std::int64_t>(p) * vocab;
            kld[k * perWindow + p] = klDivergence(r, c, vocab);
            agree[k] += argmax(r, vocab) == argmax(c, vocab);
        }
    });
    const double seconds = secondsSince(start);
    double refSum = 0, candSum = 0;
    long long agreeSum = 0;
    for (std::size_t k = 0; k < windows.size(); ++k) {
        refSum += refNll[k];
        candSum += candNll[k];
        agreeSum += agree[k];
    }
    const auto n = static_cast<long long>(windows.size());
    const long long scored = n * static_cast<long long>(perWindow);

    ComparisonResult r;
    r.reference = finish(refSum, scored, n, opts.ctx, seconds);
    r.candidate = finish(candSum, scored, n, opts.ctx, seconds);
    KldStats& s = r.kld;
    s.tokens = scored;
    double sum = 0, sumSq = 0;
    for (double v : kld) {
        sum += v;
        sumSq += v * v;
    }
    s.mean = sum / static_cast<double>(scored);
    if (scored > 1) {
        const double var = std::max(0.0, (sumSq / static_cast<double>(scored) - s.mean * s.mean) *
                                             static_cast<double>(scored) / static_cast<double>(scored - 1));
        s.meanStdError = std::sqrt(var / static_cast<double>(scored));
    }
    std::sort(kld.begin(), kld.end());
    s.median = percentileOfSorted(kld, 0.5);
    s.p99 = percentileOfSorted(kld, 0.99);
    s.p999 = percentileOfSorted(kld, 0.999);
    s.max = kld.back();
    s.top1Agreement = static_cast<double>(agreeSum) / static_cast<double>(scored);
    return r;
}

} // namespace qs::core
