// SPDX-License-Identifier: MIT
// Percentile clipping of activations (DGQ's A8 side): the --act-quant pNN.N spelling, its recipe round
// trip, a closed-form per-token clip, and DGQ W4 + A8 p99 on the tiny Llama end to end.
#include "experiment/builtins.h"
#include "quant/recipe.h"
#include "quant/fake_quant.h"
#include "base/error.h"
#include "test_rotation_common.h"

#include <cmath>
#include <gtest/gtest.h>
#include <random>

using namespace qs::core;
using namespace qs::test;

TEST(ActPercentile, ParseAndRecipeRoundTrip) {
    const QuantSpec s = hookSpecFromString("int8:token:p99.9", "--act-quant");
    EXPECT_EQ(s.format, FormatId::Int8);
    EXPECT_EQ(s.granularity, Granularity::Token);
    EXPECT_EQ(s.scaleRule, ScaleRule::Percentile);
    EXPECT_DOUBLE_EQ(s.percentile, 99.9);
    EXPECT_TRUE(s.symmetric);
    // Any order of the parts; asym; the default granularity (token).
    const QuantSpec a = hookSpecFromString("int8:p99:asym", "--act-quant");
    EXPECT_EQ(a.granularity, Granularity::Token);
    EXPECT_EQ(a.scaleRule, ScaleRule::Percentile);
    EXPECT_DOUBLE_EQ(a.percentile, 99.0);
    EXPECT_FALSE(a.symmetric);
    EXPECT_EQ(hookSpecFromString("int8:token", "--act-quant").scaleRule, ScaleRule::MinMax);

    Recipe r;
    r.activation = s;
    r.kvCache = hookSpecFromString("int4:p99.99", "--kv-quant");
    const nlohmann::json j = r.toJson();
    EXPECT_EQ(j.at("activation").at("scale"), "percentile");
    EXPECT_DOUBLE_EQ(j.at("activation").at("percentile").get<double>(), 99.9);
    Registries reg;
    registerBuiltins(reg);
    const Recipe back = recipeFromJson(nlohmann::json::parse(r.canonical()), reg);
    ASSERT_TRUE(back.activation && back.kvCache);
    EXPECT_EQ(back.activation->scaleRule, ScaleRule::Percentile);
    EXPECT_DOUBLE_EQ(back.activation->percentile, 99.9);
    EXPECT_DOUBLE_EQ(back.kvCache->percentile, 99.99);
    EXPECT_EQ(back.canonical(), r.canonical());
    // Two percentiles are two recipes; the percentile of a minmax spec is not part of the key.
    Recipe other = r;
    other.activation->percentile = 99.0;
    EXPECT_NE(other.canonical(), r.canonical());
    Recipe minmax;
    minmax.activation = hookSpecFromString("int8:token", "--act-quant");
    Recipe minmax2 = minmax;
    minmax2.activation->percentile = 90.0;
    EXPECT_EQ(minmax.canonical(), minmax2.canonical());
    EXPECT_NE(r.label().find("p99.9"), std::string::npos) << r.label();

    // Bad percentiles are errors naming the flag.
    for (const char* bad : {"int8:p", "int8:p99.9x", "int8:p1e", "int8:p101", "int8:p10"}) {
        try {
            hookSpecFromString(bad, "--act-quant");
            ADD_FAILURE() << bad << " was accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("--act-quant"), std::string::npos) << e.what();
        }
    }
}

TEST(ActPercentile, PerTokenClipIsClosedForm) {
    // Token 0: 990 integers of magnitude 1..126, one 127 and ten outliers (|x| 500..5000), shuffled,
    // random signs. Nearest-rank p99 of |x| over 1001 values is the element round(0.99 * 1000) = 990 of
    // the sorted |x|: 127. So int8 sym's scale is 127 / 127 = 1: every |x| <= 127 is exact and exactly
    // the ten outliers clip to +-127. Token 1 is token 0 halved (scale 0.5, clip at 63.5): per token.
    constexpr int kCols = 1001;
    std::mt19937 rng(3);
    std::vector<float> row;
    for (int i = 0; i < 990; ++i)
        row.push_back(static_cast<float>(1 + i % 126));
    row.push_back(127.0f);
    for (int i = 0; i < 10; ++i)
        row.push_back(500.0f * static_cast<float>(i + 1));
    std::shuffle(row.begin(), row.end(), rng);
    std::bernoulli_distribution coin(0.5);
    for (float& v : row)
        if (coin(rng)) v = -v;
    std::vector<float> x(row);
    for (float v : row)
        x.push_back(0.5f * v);

    const QuantSpec spec = hookSpecFromString("int8:token:p99", "--act-quant");
    std::vector<float> out(x.size());
    fakeQuantize(x.data(), 2, kCols, spec, out.data());
    for (int t = 0; t < 2; ++t) {
        const float limit = t == 0 ? 127.0f : 63.5f;
        int clipped = 0;
        for (int c = 0; c < kCols; ++c) {
            const float v = x[t * kCols + c];
            const float expect = std::fabs(v) > limit ? std::copysign(limit, v) : v;
            ASSERT_EQ(out[t * kCols + c], expect) << "token " << t << " column " << c;
            clipped += std::fabs(v) > limit;
        }
        EXPECT_EQ(clipped, 10);
    }
    // Without the percentile the outlier sets the scale (5000 / 127): nothing clips, small values round off.
    fakeQuantize(x.data(), 2, kCols, hookSpecFromString("int8:token", "--act-quant"), out.data());
    const auto outlier = std::max_element(row.begin(), row.end(),
                                          [](float a, float b) { return std::fabs(a) < std::fabs(b); });
    EXPECT_EQ(out[outlier - row.begin()], *outlier);
}

TEST(ActPercentile, DgqW4A8PercentileEndToEnd) {
    TfRun run;
    run.method = "dgq";
    run.weights = tfSpec(FormatId::Int4, Granularity::Group, 64);
    // Nearest-rank p99.9 of a token's 192 features is its max; of down_proj's 512 features it clips the
    // top one. (p99 clips the 2 largest of 192: the outlier features, which costs about 3 ppl here.)
    run.activation = hookSpecFromString("int8:token:p99.9", "--act-quant");
    const double p = tfEvaluate(run, "dgq W4 g64 + A8 token p99.9").perplexity;
    run.activation = hookSpecFromString("int8:token", "--act-quant");
    const double pMinMax = tfEvaluate(run, "dgq W4 g64 + A8 token minmax").perplexity;
    ASSERT_TRUE(std::isfinite(p));
    ASSERT_TRUE(std::isfinite(pMinMax));
    // Against fp32 8.458817 (fixtures/README.md): W4 g64 and A8 each cost little.
    EXPECT_GT(p, 8.458817);
    EXPECT_LT(p, 8.458817 * 1.1);
    EXPECT_NE(p, pMinMax); // the clip acts
}
