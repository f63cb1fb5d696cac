// SPDX-License-Identifier: MIT
// CausalLm::forwardBatch (windows stacked through each product) against forward() window by window:
// the same bits for every architecture and every hook, the hooks seeing one window at a time.
#include "eval/perplexity.h"
#include "eval/window_scores.h"
#include "fixture_models.h"
#include "fixture_paths.h"
#include "naive_lm.h"
#include "nn/causal_lm.h"
#include "base/error.h"

#include <atomic>
#include <gtest/gtest.h>
#include <omp.h>

using namespace qs::core;
namespace fs = std::filesystem;

namespace {

// Three windows of `n` ids below `vocab`, distinct from each other.
std::vector<std::vector<std::int32_t>> windowsOf(int n, int vocab) {
    std::vector<std::vector<std::int32_t>> w(3, std::vector<std::int32_t>(static_cast<std::size_t>(n)));
    for (std::size_t k = 0; k < w.size(); ++k)
        for (int i = 0; i < n; ++i) w[k][static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * 7 + k * 13 + 3) % vocab);
    return w;
}

// Whether forwardBatch gives every window forward()'s bits.
void expectBatchEqualsEachWindow(const CausalLm& lm, const std::vector<std::vector<std::int32_t>>& windows) {
    const std::vector<std::span<const std::int32_t>> spans(windows.begin(), windows.end());
    const std::vector<RowMatrixF> batch = lm.forwardBatch(spans);
    ASSERT_EQ(batch.size(), windows.size());
    for (std::size_t k = 0; k < windows.size(); ++k) EXPECT_TRUE(batch[k] == lm.forward(windows[k])) << "window " << k;
}

std::unique_ptr<Model> tinyModel(const qs::test::TinySpec& spec, const std::string& name) {
    const fs::path dir = qs::test::outputDir("forward_batch_" + name);
    qs::test::writeTinyModel(dir, spec);
    return openModel(dir);
}

} // namespace

TEST(ForwardBatch, FixtureWindowsGiveTheirOwnBits) {
    expectBatchEqualsEachWindow(qs::test::fixtureLm(), windowsOf(128, 512));
}

TEST(ForwardBatch, Bf16ProductsGiveEachWindowItsBits) {
    CausalLm lm(qs::test::fixtureLm(), {});
    ForwardHooks hooks;
    hooks.bf16Products = true;
    lm.setHooks(hooks);
    expectBatchEqualsEachWindow(lm, windowsOf(128, 512));
}

TEST(ForwardBatch, EveryArchitectureGivesEachWindowsBits) {
    std::vector<std::pair<std::string, qs::test::TinySpec>> specs(4);
    specs[0].first = "gpt2"; // fused c_attn, learned positions, LayerNorm
    specs[0].second.modelType = "gpt2";
    specs[1].first = "qwen2"; // biases, tied head
    specs[1].second.modelType = "qwen2";
    specs[1].second.tied = true;
    specs[2].first = "mistral"; // sliding window
    specs[2].second.modelType = "mistral";
    specs[2].second.slidingWindow = 5;
    specs[3].first = "llama_dynamic_rope"; // a RoPE table that depends on the length
    specs[3].second.maxPositions = 8;
    specs[3].second.ropeScaling = nlohmann::json::parse(R"({"rope_type": "dynamic", "factor": 2.0})");
    for (const auto& [name, spec] : specs) {
        SCOPED_TRACE(name);
        const auto model = tinyModel(spec, name);
        const CausalLm lm(*model);
        expectBatchEqualsEachWindow(lm, windowsOf(name == "gpt2" ? 20 : 12, 40));
    }
}

TEST(ForwardBatch, HooksSeeOneWindowAtATime) {
    // Per-tensor scales and transforms that read the whole matrix would differ if a hook saw the
    // stacked windows.
    CausalLm lm(qs::test::fixtureLm(), {});
    ForwardHooks tensorScales;
    tensorScales.activation = QuantSpec{FormatId::Int4, Granularity::Tensor, 0, true};
    tensorScales.kvCache = QuantSpec{FormatId::Int4, Granularity::Tensor, 0, false};
    lm.setHooks(tensorScales);
    expectBatchEqualsEachWindow(lm, windowsOf(64, 512));

    ForwardHooks functions;
    std::atomic<int> rows{0}, calls{0};
    functions.siteTransform = [&](int, int, RowMatrixF& x) {
        rows += static_cast<int>(x.rows());
        ++calls;
        x.rowwise() += 0.1f * x.row(0); // reads the window's first row
    };
    functions.siteQuantize = [](int, int, RowMatrixF& x) { x *= 1.0f / x.cwiseAbs().maxCoeff(); };
    functions.kvQuantize = [](int, RowMatrixF& k, RowMatrixF& v) {
        k.array() += k.mean();
        v.array() -= v.mean();
    };
    functions.attentionSpans.assign(4, std::vector<int>(6, 9));
    functions.attentionSinks = 2;
    lm.setHooks(functions);
    expectBatchEqualsEachWindow(lm, windowsOf(64, 512));
    EXPECT_EQ(rows.load(), calls.load() * 64); // every call saw one window
}

TEST(ForwardBatch, RunLayerOnStackedWindowsShowsTheObserverEachWindow) {
    const CausalLm& lm = qs::test::fixtureLm();
    const auto windows = windowsOf(32, 512);
    RowMatrixF stacked(3 * 32, 192);
    std::vector<RowMatrixF> alone;
    for (std::size_t k = 0; k < windows.size(); ++k) {
        alone.push_back(lm.embed(windows[k]));
        stacked.middleRows(static_cast<std::int64_t>(k) * 32, 32) = alone.back();
    }
    int seen = 0;
    const LinearInputObserver observer = [&](int, const LinearInputSite&, const RowMatrixF& in) {
        EXPECT_EQ(in.rows(), 32);
        ++seen;
    };
    lm.runLayer(0, stacked, &observer, 3);
    EXPECT_EQ(seen, 3 * 4); // four sites per window
    for (std::size_t k = 0; k < windows.size(); ++k) {
        lm.runLayer(0, alone[k]);
        EXPECT_TRUE(RowMatrixF(stacked.middleRows(static_cast<std::int64_t>(k) * 32, 32)) == alone[k]);
    }
    EXPECT_THROW(lm.runLayer(0, stacked, nullptr, 5), Error); // 96 rows are not 5 windows
}

TEST(ForwardBatch, RejectsWindowsOfDifferentLengths) {
    const std::vector<std::int32_t> a(8, 1), b(9, 1);
    const std::vector<std::span<const std::int32_t>> mixed{a, b};
    EXPECT_THROW(qs::test::fixtureLm().forwardBatch(mixed), Error);
    EXPECT_TRUE(qs::test::fixtureLm().forwardBatch({}).empty());
    const std::vector<std::int32_t> outside{1, 512};
    const std::vector<std::span<const std::int32_t>> bad{std::span(a).first(2), outside};
    EXPECT_THROW(qs::test::fixtureLm().forwardBatch(bad), Error);
}

TEST(ForwardBatch, BatchSizesFollowRowsLogitsAndThreads) {
    const int before = omp_get_max_threads();
    omp_set_num_threads(1);
    EXPECT_EQ(windowsPerBatch(64, 128, 512), 4u);     // 512 rows
    EXPECT_EQ(windowsPerBatch(64, 2048, 512), 1u);    // one window is already more rows
    EXPECT_EQ(windowsPerBatch(64, 128, 152064), 1u);  // a batch's logits stay under 64 MiB
    EXPECT_EQ(windowsPerBatch(3, 16, 40), 3u);        // no more than there are
    omp_set_num_threads(2);
    EXPECT_EQ(windowsPerBatch(6, 16, 40), 3u); // one batch per thread
    omp_set_num_threads(before);
}

TEST(ForwardBatch, EvaluationAtOneAndTwoThreadsEqualsWindowByWindow) {
    const auto& tokens = qs::test::fixtureTestTokens();
    const EvalOptions opts{128, 10};
    const auto windows = splitWindows(tokens, opts);
    double sum = 0;
    for (const auto& w : windows) sum += windowNll(qs::test::fixtureLm().forward(w), w);
    const int before = omp_get_max_threads();
    for (int threads : {1, 2}) {
        omp_set_num_threads(threads);
        const PerplexityResult r = evaluatePerplexity(qs::test::fixtureLm(), tokens, opts, {});
        EXPECT_EQ(r.meanNll, sum / static_cast<double>(r.tokensScored)) << threads << " threads";
        const ComparisonResult c = compareWithReference(qs::test::fixtureLm(), qs::test::fixtureLm(), tokens, opts, {});
        EXPECT_EQ(c.candidate.meanNll, r.meanNll);
        EXPECT_EQ(c.kld.max, 0.0);
    }
    omp_set_num_threads(before);
}

TEST(ForwardBatch, RunLayerOnStreamsEqualsEachStreamAlone) {
    const CausalLm& lm = qs::test::fixtureLm();
    const auto windows = windowsOf(48, 512);
    std::vector<RowMatrixF> streams;
    for (int copy = 0; copy < 2; ++copy) // six streams: batches of several at 1 thread, split at 2
        for (const auto& w : windows) streams.push_back(lm.embed(w));
    EXPECT_TRUE(unstackRows(stackRows(streams), streams.size()) == streams);
    const int before = omp_get_max_threads();
    for (int threads : {1, 2}) {
        omp_set_num_threads(threads);
        std::vector<RowMatrixF> batched = streams;
        runLayerOnStreams(lm, 1, batched, {});
        for (std::size_t k = 0; k < streams.size(); ++k) {
            RowMatrixF one = streams[k];
            lm.runLayer(1, one);
            EXPECT_TRUE(batched[k] == one) << "stream " << k << ", " << threads << " threads";
        }
    }
    omp_set_num_threads(before);
}
