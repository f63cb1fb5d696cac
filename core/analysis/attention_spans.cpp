// SPDX-License-Identifier: MIT
#include "analysis/attention_spans.h"

#include "analysis/prefix_evaluator.h"
#include "base/error.h"
#include "data/windows.h"
#include "eval/window_scores.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>

namespace qs::core {

int recencySpan(const float* row, std::int64_t i, std::int64_t lo, int sinks, double mass) {
    const std::int64_t all = i - lo + 1;
    if (mass >= 1.0) return static_cast<int>(all);
    double held = 0;
    for (std::int64_t s = lo; s < std::min<std::int64_t>(sinks, i + 1); ++s) held += row[s];
    for (std::int64_t r = 1; r <= all; ++r) {
        const std::int64_t key = i - r + 1;
        if (key >= sinks) held += row[key]; // sink keys are counted already
        if (held >= mass) return static_cast<int>(r);
    }
    return static_cast<int>(all); // rounding left the sum just below the mass
}

std::int64_t keptKeys(std::int64_t i, std::int64_t lo, std::int64_t span, std::int64_t sinks) {
    const std::int64_t recentLo = span > 0 ? std::max(lo, i - span + 1) : lo;
    return (i - recentLo + 1) + std::max<std::int64_t>(0, std::min(sinks, recentLo) - lo);
}

int quantileOfCounts(const std::vector<long long>& counts, double fraction) {
    long long total = 0;
    for (long long c : counts) total += c;
    if (total == 0) return 0;
    // Nearest rank: the smallest value with at least ceil(fraction * total) values at or below it.
    const long long rank = std::max<long long>(1, static_cast<long long>(std::ceil(fraction * static_cast<double>(total))));
    long long seen = 0;
    for (std::size_t v = 0; v < counts.size(); ++v) {
        seen += counts[v];
        if (seen >= rank) return static_cast<int>(v);
    }
    return static_cast<int>(counts.size() - 1);
}

const ParamSchema& SpansAnalysis::params() const {
    static const ParamSchema schema{
        {"mass", ParamType::Float, 0.99, 1e-6, 1.0, {}, "share of each query's attention mass a span must hold",
         "Mass"},
        {"sinks", ParamType::Int, 4, 0, 1 << 20, {},
         "first keys every query keeps whatever its span (attention sinks, as StreamingLLM)", "Sink keys"},
        {"quantile", ParamType::Float, 1.0, 0.5, 1.0, {},
         "a head's span is this quantile of its queries' spans (1: the largest, every query holds the mass)",
         "Quantile"},
        {"block", ParamType::Int, 0, 0, 1 << 20, {},
         "round spans up to multiples of this many keys (a sparse kernel's tile; 0: none)", "Block"},
        computeParam(), // every model here: the observed, the full reference and the masked one
    };
    return schema;
}

AnalysisOutput SpansAnalysis::run(const AnalysisInput& input, const nlohmann::json& p, const JobContext& job) const {
    const auto start = std::chrono::steady_clock::now();
    const double mass = p.at("mass").get<double>(), quantile = p.at("quantile").get<double>();
    const int sinks = p.at("sinks").get<int>(), block = p.at("block").get<int>();
    job.step(0, 0, "loading the model");
    const CausalLm lm =
        evaluationModel(CausalLm(input.model, {}, JobContext{nullptr, job.cancel}), bf16ComputeFromParams(p));
    const ModelConfig& cfg = lm.config();
    const int layers = lm.numLayers(), heads = cfg.numHeads, kvHeads = cfg.numKvHeads > 0 ? cfg.numKvHeads : heads;
    const int ctx = input.set.ctx;
    const std::size_t windows = input.set.windows.size();
    if (windows == 0) throw Error("spans: no windows in the data");

    // 1. Each query's span, counted per head: counts[(layer * heads + head) * (ctx + 1) + span].
    // Windows run on several threads; integer counts added atomically give the same totals in any order.
    std::vector<long long> counts(static_cast<std::size_t>(layers) * heads * (ctx + 1));
    CausalLm observed(lm, {});
    ForwardHooks hooks = lm.hooks(); // its products' precision, plus the observer
    hooks.attentionObserver = [&](int layer, int head, const RowMatrixF& a) {
        long long* c = counts.data() + (static_cast<std::size_t>(layer) * heads + head) * (ctx + 1);
        for (std::int64_t i = 0; i < a.rows(); ++i) {
            const float* row = a.data() + i * a.cols();
            std::int64_t lo = 0;
            while (lo < i && row[lo] == 0.0f) ++lo; // keys a sliding window hides (or of probability 0)
            std::atomic_ref<long long>(c[recencySpan(row, i, lo, sinks, mass)]).fetch_add(1, std::memory_order_relaxed);
        }
    };
    observed.setHooks(hooks);
    forEachWindow(windows, job, "attention spans", [&](std::size_t k) { observed.forward(input.set.windows[k]); });

    // 2. Per head: the span at the quantile, its median and 95th percentile.
    Eigen::MatrixXd spanM(layers, heads), medianM(layers, heads), p95M(layers, heads);
    std::vector<std::vector<int>> spans(static_cast<std::size_t>(layers), std::vector<int>(static_cast<std::size_t>(heads)));
    AnalysisOutput out;
    nlohmann::json headJson = nlohmann::json::array();
    for (int l = 0; l < layers; ++l)
        for (int h = 0; h < heads; ++h) {
            const auto first = counts.begin() + (static_cast<std::ptrdiff_t>(l) * heads + h) * (ctx + 1);
            const std::vector<long long> c(first, first + ctx + 1);
            int span = quantileOfCounts(c, quantile);
            if (block > 0) span = (span + block - 1) / block * block;
            span = std::min(span, ctx);
            spans[std::size_t(l)][std::size_t(h)] = span;
            const int median = quantileOfCounts(c, 0.5), p95 = quantileOfCounts(c, 0.95);
            spanM(l, h) = span;
            medianM(l, h) = median;
            p95M(l, h) = p95;
            const nlohmann::json row = {{"layer", l},  {"head", h},       {"kv_head", h / (heads / kvHeads)},
                                        {"span", span}, {"median", median}, {"p95", p95},
                                        {"span_fraction", static_cast<double>(span) / ctx}};
            headJson.push_back(row);
            out.rows.emplace_back("layer " + std::to_string(l) + " head " + std::to_string(h), row);
        }

    // 3. The attention work and KV cache the spans keep (full causal attention over ctx as 1).
    long long fullWork = 0, keptWork = 0;
    for (int l = 0; l < layers; ++l)
        for (int h = 0; h < heads; ++h)
            for (std::int64_t i = 0; i < ctx; ++i) {
                fullWork += i + 1;
                keptWork += keptKeys(i, 0, spans[std::size_t(l)][std::size_t(h)], sinks);
            }
    double kvKept = 0; // per layer and KV head, at a context of ctx tokens: the union over its query heads
    for (int l = 0; l < layers; ++l)
        for (int g = 0; g < kvHeads; ++g) {
            int widest = 0;
            for (int h = g * (heads / kvHeads); h < (g + 1) * (heads / kvHeads); ++h)
                widest = std::max(widest, spans[std::size_t(l)][std::size_t(h)]);
            kvKept += static_cast<double>(keptKeys(ctx - 1, 0, widest, sinks)) / ctx;
        }
    kvKept /= static_cast<double>(layers) * kvHeads;

    // 4. The model with attention masked to the spans against the full model, on the same windows.
    CausalLm masked(lm, {});
    ForwardHooks maskHooks = lm.hooks();
    maskHooks.attentionSpans = spans;
    maskHooks.attentionSinks = sinks;
    masked.setHooks(maskHooks);
    ComparisonScores scores(windows, ctx);
    forEachWindow(windows, job, "sparse attention", [&](std::size_t k) {
        const auto& w = input.set.windows[k];
        scores.add(k, lm.forward(w), masked.forward(w), w);
    });
    const ComparisonResult cmp = scores.finish(secondsSince(start));

    out.summary = {{"mass", mass},
                   {"sinks", sinks},
                   {"quantile", quantile},
                   {"block", block},
                   {"perplexity", cmp.candidate.perplexity},
                   {"reference_perplexity", cmp.reference.perplexity},
                   {"nll", cmp.candidate.meanNll},
                   {"reference_nll", cmp.reference.meanNll},
                   {"delta_nll", cmp.candidate.meanNll - cmp.reference.meanNll},
                   {"kld", cmp.kld.mean},
                   {"top1_agreement", cmp.kld.top1Agreement},
                   {"attention_work_saved", 1.0 - static_cast<double>(keptWork) / static_cast<double>(fullWork)},
                   {"kv_kept_fraction", kvKept},
                   {"ctx", ctx},
                   {"layers", layers},
                   {"heads_per_layer", heads},
                   {"kv_heads", kvHeads},
                   {"heads", headJson},
                   {"seconds", secondsSince(start)}};
    out.arrays["span"] = spanM;
    out.arrays["median"] = medianM;
    out.arrays["p95"] = p95M;
    job.step(1, 1, "spans");
    return out;
}

} // namespace qs::core
