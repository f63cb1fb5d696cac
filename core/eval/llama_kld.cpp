// SPDX-License-Identifier: MIT
#include "eval/llama_kld.h"

#include "base/error.h"
#include "eval/token_metrics.h"
#include "eval/window_scores.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <omp.h>

namespace qs::core {
namespace {

// One scored position's figures (llama.cpp's log_softmax against a base row).
struct PositionScores {
    double nll = 0, nllBase = 0, kld = 0, pDiff = 0;
    bool sameTop = false;
};

PositionScores scorePosition(const float* logits, int vocab, const std::uint16_t* baseRow, std::int32_t target) {
    const std::int64_t top = argmax(logits, vocab);
    const double lse = logSumExp(logits, vocab);
    PositionScores s;
    s.nll = lse - logits[target];
    s.nllBase = -llamaRowLogProb(baseRow, target);
    int topBase = 0;
    float topBaseLogProb = 0;
    for (int i = 0; i < vocab; ++i) {
        const float logBase = llamaRowLogProb(baseRow, i);
        if (i == 0 || logBase > topBaseLogProb) topBaseLogProb = logBase, topBase = i;
        if (logBase > -16.f) s.kld += std::exp(static_cast<double>(logBase)) * (logBase - (logits[i] - lse));
    }
    s.sameTop = top == topBase;
    s.pDiff = std::exp(-s.nll) - std::exp(-s.nllBase);
    return s;
}

// llama.cpp's mean ± uncertainty of a sum and sum of squares.
std::pair<double, double> meanAndError(double sum, double sum2, double count) {
    const double f = sum / count;
    const double var = sum2 / count - f * f;
    return {f, var > 0 && count > 10 ? std::sqrt(var / (count - 1)) : 0.0};
}

// Windows in groups of a few per thread, so the writer appends in chunk order as groups finish.
void forEachGroup(std::size_t count, const JobContext& job, const std::string& label,
                  const std::function<void(std::size_t)>& window, const std::function<void(std::size_t, std::size_t)>& done) {
    const auto group = static_cast<std::size_t>(std::max(1, omp_get_max_threads())) * 4;
    for (std::size_t begin = 0; begin < count; begin += group) {
        const std::size_t end = std::min(count, begin + group);
        forEachWindow(end - begin, JobContext{{}, job.cancel}, label, [&](std::size_t k) { window(begin + k); });
        done(begin, end);
        job.step(static_cast<long long>(end), static_cast<long long>(count),
                 label + " chunk " + std::to_string(end) + "/" + std::to_string(count));
    }
}

} // namespace

nlohmann::json LlamaKldResult::toJson() const {
    return {{"perplexity", candidate.perplexity},     {"base_perplexity", basePerplexity},
            {"ln_ppl_ratio", logPplRatio},            {"kld", kld.toJson()},
            {"rms_delta_p", rmsDeltaP},               {"chunks", candidate.windows},
            {"ctx", candidate.ctx},                   {"tokens_scored", candidate.tokensScored}};
}

LlamaKldResult compareWithLlamaLogits(const CausalLm& lm, const LlamaLogitsFile& base,
                                      std::optional<std::int32_t> bos, long long maxChunks, const JobContext& job) {
    const auto start = std::chrono::steady_clock::now();
    if (lm.vocabSize() != base.vocab)
        throw Error("the base log-probabilities cover a vocabulary of " + std::to_string(base.vocab) +
                    " tokens, the model has " + std::to_string(lm.vocabSize()));
    const int chunks = maxChunks > 0 ? static_cast<int>(std::min<long long>(maxChunks, base.chunks)) : base.chunks;
    const int ctx = base.ctx, first = ctx / 2, rows = base.rowsPerChunk();
    std::vector<PositionScores> scores(static_cast<std::size_t>(chunks) * rows);
    forEachWindow(static_cast<std::size_t>(chunks), job, "KLD vs llama.cpp base", [&](std::size_t c) {
        const std::span<const std::int32_t> stored(base.tokens.data() + c * ctx, static_cast<std::size_t>(ctx));
        std::vector<std::int32_t> input(stored.begin(), stored.end());
        if (bos) input[0] = *bos;
        const RowMatrixF logits = lm.forward(input);
        for (int r = 0; r < rows; ++r)
            scores[c * rows + r] = scorePosition(logits.data() + static_cast<std::int64_t>(first + r) * logits.cols(),
                                                 base.vocab, base.row(static_cast<int>(c), r), stored[first + r + 1]);
    });

    double nll = 0, nllBase = 0, kld = 0, kld2 = 0, pDiff2 = 0, pDiff4 = 0;
    long long same = 0;
    std::vector<double> klds;
    klds.reserve(scores.size());
    for (const PositionScores& s : scores) { // fixed order: independent of the thread count
        nll += s.nll, nllBase += s.nllBase;
        kld += s.kld, kld2 += s.kld * s.kld, pDiff2 += s.pDiff * s.pDiff, pDiff4 += s.pDiff * s.pDiff * s.pDiff * s.pDiff;
        same += s.sameTop;
        klds.push_back(s.kld);
    }
    const auto n = static_cast<double>(scores.size());
    LlamaKldResult r;
    r.candidate = perplexityFromNll(nll, chunks, ctx, secondsSince(start), first + 1);
    r.basePerplexity = std::exp(nllBase / n);
    r.logPplRatio = (nll - nllBase) / n;
    const auto [mean, error] = meanAndError(kld, kld2, n);
    r.kld.mean = mean;
    r.kld.meanStdError = error;
    std::sort(klds.begin(), klds.end());
    r.kld.median = percentileOfSorted(klds, 0.5);
    r.kld.p99 = percentileOfSorted(klds, 0.99);
    r.kld.p999 = percentileOfSorted(klds, 0.999);
    r.kld.max = klds.back();
    r.kld.top1Agreement = static_cast<double>(same) / n;
    r.kld.tokens = static_cast<long long>(scores.size());
    r.rmsDeltaP = std::sqrt(meanAndError(pDiff2, pDiff4, n).first);
    return r;
}

PerplexityResult saveLlamaLogits(const CausalLm& lm, const LlamaCppChunks& chunks,
                                 std::span<const std::int32_t> unsubstituted, const std::filesystem::path& out,
                                 const JobContext& job) {
    const auto start = std::chrono::steady_clock::now();
    const int ctx = chunks.opts.ctx, first = ctx / 2, vocab = lm.vocabSize();
    const auto count = chunks.tokens.size() / static_cast<std::size_t>(ctx);
    checkTargets(chunks.tokens, vocab);
    LlamaLogitsWriter writer(out, ctx, vocab, unsubstituted.first(chunks.tokens.size()));
    const LlamaLogitsFile shape{ctx, vocab, 0, {}, {}};
    const auto perChunk = static_cast<std::size_t>(shape.rowsPerChunk()) * static_cast<std::size_t>(shape.rowStride());
    std::vector<std::vector<std::uint16_t>> rows(count);
    std::vector<double> nll(count, 0.0);
    forEachGroup(count, job, "llama.cpp log-probabilities", [&](std::size_t c) {
        const std::span<const std::int32_t> window(chunks.tokens.data() + c * ctx, static_cast<std::size_t>(ctx));
        const RowMatrixF logits = lm.forward(window);
        rows[c].resize(perChunk);
        for (int r = 0; r < shape.rowsPerChunk(); ++r)
            nll[c] += encodeLlamaRow(logits.data() + static_cast<std::int64_t>(first + r) * vocab, vocab,
                                     window[first + r + 1], rows[c].data() + r * shape.rowStride());
    }, [&](std::size_t begin, std::size_t end) {
        for (std::size_t c = begin; c < end; ++c) {
            writer.addChunk(rows[c]);
            rows[c] = {};
        }
    });
    writer.finish();
    double sum = 0;
    for (double v : nll) sum += v;
    return perplexityFromNll(sum, static_cast<long long>(count), ctx, secondsSince(start), first + 1);
}

} // namespace qs::core
