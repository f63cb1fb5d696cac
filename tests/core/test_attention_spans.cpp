// SPDX-License-Identifier: MIT
// Attention spans: the span of a query against closed forms and brute force, the kept-key count, the
// masked forward pass against the naive sliding-window reference and against the full attention's
// renormalised probabilities, and the exact reproduction when the spans cover the context.
#include "analysis/attention_spans.h"
#include "fixture_paths.h"
#include "model/model.h"
#include "naive_lm.h"
#include "nn/causal_lm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <mutex>
#include <random>

using namespace qs::core;

TEST(AttentionSpans, UniformAttentionNeedsTheCeilingOfMassTimesKeys) {
    for (int t : {0, 4, 9, 31})
        for (double mass : {0.33, 0.5, 0.85, 0.97}) {
            const std::vector<float> row(static_cast<std::size_t>(t + 1), 1.0f / static_cast<float>(t + 1));
            EXPECT_EQ(recencySpan(row.data(), t, 0, 0, mass), static_cast<int>(std::ceil(mass * (t + 1))))
                << t << " " << mass;
        }
    // Two sink keys count first: (2 + r) / 10 >= 0.85 needs r = 7.
    const std::vector<float> row(10, 0.1f);
    EXPECT_EQ(recencySpan(row.data(), 9, 0, 2, 0.85), 7);
    EXPECT_EQ(recencySpan(row.data(), 9, 0, 0, 1.0), 10);
}

TEST(AttentionSpans, OneHotAttentionGivesTheDistanceToItsKey) {
    std::vector<float> row(8, 0.0f);
    row[7] = 1.0f;
    EXPECT_EQ(recencySpan(row.data(), 7, 0, 0, 0.99), 1); // itself
    row[7] = 0.0f;
    row[6] = 1.0f;
    EXPECT_EQ(recencySpan(row.data(), 7, 0, 0, 0.99), 2); // the previous token
    row[6] = 0.0f;
    row[0] = 1.0f;
    EXPECT_EQ(recencySpan(row.data(), 7, 0, 0, 0.99), 8); // the first token, no sinks
    EXPECT_EQ(recencySpan(row.data(), 7, 0, 1, 0.99), 1); // the first token as a sink
}

TEST(AttentionSpans, SpanIsTheSmallestRecencyWindowByBruteForce) {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (int trial = 0; trial < 300; ++trial) {
        const int t = static_cast<int>(rng() % 24), sinks = static_cast<int>(rng() % 4);
        const double mass = 0.5 + 0.49 * u(rng);
        std::vector<float> row(static_cast<std::size_t>(t + 1));
        double sum = 0;
        for (float& x : row) sum += x = std::pow(u(rng), 4.0f);
        for (float& x : row) x = static_cast<float>(x / sum);
        int brute = t + 1;
        for (int r = 1; r <= t + 1; ++r) {
            double held = 0;
            for (int s = 0; s <= t; ++s)
                if (s > t - r || s < sinks) held += row[static_cast<std::size_t>(s)];
            if (held >= mass) {
                brute = r;
                break;
            }
        }
        EXPECT_EQ(recencySpan(row.data(), t, 0, sinks, mass), brute) << trial;
    }
}

TEST(AttentionSpans, KeptKeysCountTheUnionOfSinksAndRecentKeys) {
    for (int i = 0; i < 12; ++i)
        for (int lo = 0; lo <= i; ++lo)
            for (int span = 0; span < 14; ++span)
                for (int sinks = 0; sinks < 5; ++sinks) {
                    long long brute = 0;
                    for (int j = lo; j <= i; ++j) brute += span == 0 || j > i - span || j < sinks;
                    EXPECT_EQ(keptKeys(i, lo, span, sinks), brute) << i << lo << span << sinks;
                }
}

TEST(AttentionSpans, QuantilesOfCountsAreNearestRank) {
    const std::vector<long long> c{0, 2, 0, 5, 3}; // values 1,1,3,3,3,3,3,4,4,4
    EXPECT_EQ(quantileOfCounts(c, 0.1), 1);
    EXPECT_EQ(quantileOfCounts(c, 0.2), 1);
    EXPECT_EQ(quantileOfCounts(c, 0.21), 3);
    EXPECT_EQ(quantileOfCounts(c, 0.5), 3);
    EXPECT_EQ(quantileOfCounts(c, 0.71), 4);
    EXPECT_EQ(quantileOfCounts(c, 1.0), 4);
}

namespace {

double maxAbsDiff(const RowMatrixF& a, const RowMatrixF& b) {
    return (a.cast<double>() - b.cast<double>()).cwiseAbs().maxCoeff();
}

double maxAbsDiff(const RowMatrixF& got, const qs::test::NaiveLm::Mat& want) {
    double m = 0;
    EXPECT_EQ(static_cast<std::size_t>(got.rows()), want.size());
    for (std::size_t t = 0; t < want.size(); ++t)
        for (std::size_t v = 0; v < want[t].size(); ++v)
            m = std::max(m, std::fabs(got(Eigen::Index(t), Eigen::Index(v)) - want[t][v]));
    return m;
}

} // namespace

TEST(AttentionSpans, SpansWithoutSinksAreTheNaiveSlidingWindow) {
    qs::test::TinySpec llama;
    llama.layers = 2;
    const auto dir = qs::test::outputDir("spans_window");
    const auto weights = qs::test::writeTinyModel(dir, llama);
    const auto model = openModel(dir);
    CausalLm lm(*model);
    ForwardHooks hooks;
    hooks.attentionSpans.assign(2, std::vector<int>(4, 3));
    lm.setHooks(hooks);
    qs::test::TinySpec mistral = llama;
    mistral.modelType = "mistral";
    mistral.slidingWindow = 3;
    const std::vector<int> ids{1, 5, 9, 2, 7, 7, 3, 11, 0, 4, 19, 8};
    const std::vector<std::int32_t> ids32(ids.begin(), ids.end());
    EXPECT_LT(maxAbsDiff(lm.forward(ids32), qs::test::NaiveLm(mistral, weights).forward(ids)), 1e-4);
}

TEST(AttentionSpans, MaskedProbabilitiesAreTheFullOnesRenormalisedOverSinksAndRecentKeys) {
    const auto model = openModel(qs::test::tinyLlama());
    const CausalLm lm(*model);
    std::vector<std::int32_t> ids(40);
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int32_t>((i * 37 + 11) % 500);
    std::map<std::pair<int, int>, RowMatrixF> full, masked;
    std::mutex lock;
    auto observe = [&](std::map<std::pair<int, int>, RowMatrixF>& into) {
        return [&into, &lock](int layer, int head, const RowMatrixF& a) {
            std::lock_guard<std::mutex> g(lock);
            into[{layer, head}] = a;
        };
    };
    CausalLm a(lm, {}), b(lm, {});
    ForwardHooks ha, hb;
    ha.attentionObserver = observe(full);
    hb.attentionObserver = observe(masked);
    const int span = 5, sinks = 2;
    hb.attentionSpans.assign(static_cast<std::size_t>(lm.numLayers()), std::vector<int>(lm.config().numHeads, span));
    hb.attentionSinks = sinks;
    a.setHooks(ha);
    b.setHooks(hb);
    a.forward(ids);
    b.forward(ids);
    ASSERT_EQ(full.size(), masked.size());
    for (const auto& [key, p] : full) {
        const RowMatrixF& m = masked.at(key);
        // The first layer's probabilities see the same inputs in both runs: exactly renormalised.
        if (key.first != 0) continue;
        for (int i = 0; i < 40; ++i) {
            double keptMass = 0;
            for (int j = 0; j <= i; ++j)
                if (j > i - span || j < sinks) keptMass += p(i, j);
            for (int j = 0; j <= i; ++j) { // above the diagonal: unspecified
                const bool kept = j > i - span || j < sinks;
                if (!kept)
                    EXPECT_EQ(m(i, j), 0.0f) << i << " " << j;
                else
                    EXPECT_NEAR(m(i, j), p(i, j) / keptMass, 1e-5) << i << " " << j;
            }
        }
    }
}

TEST(AttentionSpans, SpansCoveringTheContextReproduceTheLogitsExactly) {
    const auto model = openModel(qs::test::tinyLlama());
    const CausalLm lm(*model);
    std::vector<std::int32_t> ids(64);
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int32_t>((i * 53 + 7) % 500);
    CausalLm masked(lm, {});
    ForwardHooks h;
    h.attentionSpans.assign(static_cast<std::size_t>(lm.numLayers()), std::vector<int>(lm.config().numHeads, 64));
    h.attentionSinks = 4;
    masked.setHooks(h);
    const RowMatrixF want = lm.forward(ids), got = masked.forward(ids);
    EXPECT_EQ(maxAbsDiff(want, got), 0.0);
}
