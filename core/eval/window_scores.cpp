// SPDX-License-Identifier: MIT
#include "eval/window_scores.h"

#include "eval/token_metrics.h"
#include "base/error.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <omp.h>

namespace qs::core {

void forEachWindow(std::size_t count, const JobContext& job, const std::string& label,
                   const std::function<void(std::size_t)>& fn) {
    forEachWindowBatch(count, 1, job, label, [&](std::size_t begin, std::size_t) { fn(begin); });
}

void forEachWindowBatch(std::size_t count, std::size_t batch, const JobContext& job, const std::string& label,
                        const std::function<void(std::size_t, std::size_t)>& fn) {
    batch = std::max<std::size_t>(1, batch);
    const auto threads = static_cast<std::size_t>(std::max(1, omp_get_max_threads()));
    const std::size_t batches = (count + batch - 1) / batch;
    job.step(0, static_cast<long long>(count), label);
    for (std::size_t first = 0; first < batches; first += threads) {
        const std::size_t last = std::min(batches, first + threads);
        std::exception_ptr failure;
#pragma omp parallel for schedule(dynamic, 1) num_threads(static_cast <int>(last - first))
        for (std::size_t b = first; b < last; ++b) {
            omp_set_num_threads(1); // this thread's nested work (Eigen, fake quant) stays serial
            try {
                fn(b * batch, std::min(count, (b + 1) * batch));
            } catch (...) {
#pragma omp critical(qs_eval_failure)
                if (!failure) failure = std::current_exception();
            }
        }
        if (failure) std::rethrow_exception(failure);
        const std::size_t done = std::min(count, last * batch);
        job.step(static_cast<long long>(done), static_cast<long long>(count),
                 label + " window " + std::to_string(done) + "/" + std::to_string(count));
    }
}

std::size_t windowsPerBatch(std::size_t count, int ctx, int vocab) {
    constexpr double kRows = 512;            // rows per product: packing a weight costs 1/512 of its use
    constexpr double kLogitBytes = 64 << 20; // a batch's logits
    const auto threads = static_cast<std::size_t>(std::max(1, omp_get_max_threads()));
    const double byRows = kRows / std::max(1, ctx);
    const double byLogits = kLogitBytes / (static_cast<double>(std::max(1, ctx)) * std::max(1, vocab) * sizeof(float));
    const std::size_t perThread = (count + threads - 1) / threads;
    return std::max<std::size_t>(1, std::min({static_cast<std::size_t>(std::min(byRows, byLogits)), perThread}));
}

void runLayerOnStreams(const CausalLm& lm, int layer, std::vector<RowMatrixF>& streams, const JobContext& job) {
    if (streams.empty()) return;
    const std::size_t batch = windowsPerBatch(streams.size(), static_cast<int>(streams.front().rows()), lm.vocabSize());
    forEachWindowBatch(streams.size(), batch, job, "layer", [&](std::size_t begin, std::size_t end) {
        const auto part = std::span(streams).subspan(begin, end - begin);
        RowMatrixF x = stackRows(part);
        lm.runLayer(layer, x, nullptr, static_cast<int>(part.size()));
        std::vector<RowMatrixF> out = unstackRows(std::move(x), part.size());
        std::move(out.begin(), out.end(), part.begin());
    });
}

double secondsSince(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void checkTargets(std::span<const std::int32_t> tokens, int vocab) {
    for (std::size_t i = 0; i < tokens.size(); ++i)
        if (tokens[i] < 0 || tokens[i] >= vocab)
            throw Error("token " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                        " is outside the model's vocabulary (0.." + std::to_string(vocab - 1) + ")");
}

double windowNll(const RowMatrixF& logits, std::span<const std::int32_t> window, int scoreFrom) {
    double sum = 0;
    const std::int64_t vocab = logits.cols();
    for (std::size_t p = static_cast<std::size_t>(scoreFrom) - 1; p + 1 < window.size(); ++p)
        sum += tokenNll(logits.data() + static_cast<std::int64_t>(p) * vocab, vocab, window[p + 1]);
    return sum;
}

PerplexityResult perplexityFromNll(double sumNll, long long windows, int ctx, double seconds, int scoreFrom) {
    PerplexityResult r;
    r.tokensScored = windows * (ctx - scoreFrom);
    r.windows = windows;
    r.ctx = ctx;
    r.meanNll = r.tokensScored ? sumNll / static_cast<double>(r.tokensScored) : 0;
    r.perplexity = std::exp(r.meanNll);
    r.seconds = seconds;
    return r;
}

ComparisonScores::ComparisonScores(std::size_t windows, int ctx, int scoreFrom)
    : m_ctx(ctx), m_scoreFrom(scoreFrom), m_perWindow(static_cast<std::size_t>(ctx - scoreFrom)), m_refNll(windows, 0.0),
      m_candNll(windows, 0.0), m_kld(windows * m_perWindow, 0.0), m_agree(windows, 0) {}

void ComparisonScores::add(std::size_t k, const RowMatrixF& reference, const RowMatrixF& candidate,
                           std::span<const std::int32_t> window) {
    const std::int64_t vocab = reference.cols();
    double refNll = 0, candNll = 0; // summed as windowNll sums: the same bits
    long long agree = 0;
    for (std::size_t i = 0; i < m_perWindow; ++i) {
        const auto p = static_cast<std::int64_t>(i) + m_scoreFrom - 1; // the logits that score token p + 1
        const float* r = reference.data() + p * vocab;
        const float* c = candidate.data() + p * vocab;
        // Each row's log-sum-exp once, for its NLL and the KL.
        const double lseRef = logSumExp(r, vocab), lse = logSumExp(c, vocab);
        const std::int32_t target = window[static_cast<std::size_t>(p) + 1];
        refNll += lseRef - static_cast<double>(r[target]);
        candNll += lse - static_cast<double>(c[target]);
        m_kld[k * m_perWindow + i] = klDivergence(r, lseRef, c, lse, vocab);
        agree += argmax(r, vocab) == argmax(c, vocab);
    }
    m_refNll[k] = refNll;
    m_candNll[k] = candNll;
    m_agree[k] = agree;
}

ComparisonResult ComparisonScores::finish(double seconds) {
    double refSum = 0, candSum = 0;
    long long agreeSum = 0;
    for (std::size_t k = 0; k < m_refNll.size(); ++k) {
        refSum += m_refNll[k];
        candSum += m_candNll[k];
        agreeSum += m_agree[k];
    }
    const auto n = static_cast<long long>(m_refNll.size());
    const long long scored = n * static_cast<long long>(m_perWindow);

    ComparisonResult r;
    r.reference = perplexityFromNll(refSum, n, m_ctx, seconds, m_scoreFrom);
    r.candidate = perplexityFromNll(candSum, n, m_ctx, seconds, m_scoreFrom);
    KldStats& s = r.kld;
    s.tokens = scored;
    double sum = 0, sumSq = 0;
    for (double v : m_kld) {
        sum += v;
        sumSq += v * v;
    }
    s.mean = sum / static_cast<double>(scored);
    if (scored > 1) {
        const double var = std::max(0.0, (sumSq / static_cast<double>(scored) - s.mean * s.mean) *
                                             static_cast<double>(scored) / static_cast<double>(scored - 1));
        s.meanStdError = std::sqrt(var / static_cast<double>(scored));
    }
    std::sort(m_kld.begin(), m_kld.end());
    s.median = percentileOfSorted(m_kld, 0.5);
    s.p99 = percentileOfSorted(m_kld, 0.99);
    s.p999 = percentileOfSorted(m_kld, 0.999);
    s.max = m_kld.back();
    s.top1Agreement = static_cast<double>(agreeSum) / static_cast<double>(scored);
    return r;
}

} // namespace qs::core
