// SPDX-License-Identifier: MIT
// GPTVQ on synthetic layers: against RTN, k-means monotonicity, and a hand count of the stored bits.
#include "experiment/builtins.h"
#include "quant/fake_quant.h"
#include "quant/gptvq.h"
#include "synthetic_layer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

using namespace qs::core;

namespace {

WeightMatrix matrixOf(const qs::test::SyntheticLayer& l) {
    return {l.w.data(), l.rows, l.cols, "synthetic", &l.stats};
}

} // namespace

TEST(Gptvq, OneDimUniformGridIsGptqLikeAndBeatsRtnOnTheSameGrid) {
    for (unsigned seed : {1u, 2u, 3u}) {
        const auto l = qs::test::makeLayer(64, 128, 512, seed);
        GptvqOptions o;
        o.dim = 1;
        o.bits = 3;
        o.groupCols = 128;
        o.groupSize = 0; // one codebook: the whole matrix
        o.uniformInit = true;
        o.emIters = 0;
        o.update = false;
        o.codebookBits = 16;
        std::vector<float> q(l.w.size());
        gptvqQuantize(matrixOf(l), o, q.data(), {});
        // Reference: the same 8-level grid over [min, max] of W, every weight rounded to its nearest level.
        const auto [lo, hi] = std::minmax_element(l.w.begin(), l.w.end());
        std::vector<float> grid(8), rtn(l.w.size());
        for (int i = 0; i < 8; ++i) grid[i] = *lo + (*hi - *lo) * float(i) / 7.0f;
        for (std::size_t i = 0; i < l.w.size(); ++i)
            rtn[i] = *std::min_element(grid.begin(), grid.end(), [&](float a, float b) {
                return std::fabs(a - l.w[i]) < std::fabs(b - l.w[i]);
            });
        const std::set<float> levels(grid.begin(), grid.end());
        for (float v : q) ASSERT_TRUE(levels.count(v)) << v; // the codebook is the grid
        EXPECT_LT(l.outputError(q.data()), l.outputError(rtn.data())) << "seed " << seed;
    }
}

TEST(Gptvq, WeightedKMeansObjectiveNeverIncreases) {
    std::mt19937 rng(7);
    std::normal_distribution<float> n01;
    std::uniform_real_distribution<float> u(0.1f, 3.0f);
    for (int d : {1, 2, 4}) {
        const std::int64_t n = 3000;
        std::vector<float> x(n * d), w(n * d);
        for (auto& v : x) v = n01(rng);
        for (auto& v : w) v = u(rng);
        const WeightedKMeans km = weightedKMeans(x.data(), w.data(), n, d, 16, 15, 3);
        ASSERT_EQ(km.objective.size(), 16u);
        for (std::size_t i = 1; i < km.objective.size(); ++i)
            EXPECT_LE(km.objective[i], km.objective[i - 1] * (1 + 1e-12)) << "d " << d << " round " << i;
        EXPECT_LT(km.objective.back(), km.objective.front());
        // The reported objective is the weighted distortion of the returned codebook and assignment.
        double ref = 0;
        for (std::int64_t i = 0; i < n; ++i)
            for (int a = 0; a < d; ++a) {
                const double t = double(x[i * d + a]) - km.centroids[km.assign[i] * d + a];
                ref += double(w[i * d + a]) * t * t;
            }
        EXPECT_NEAR(km.objective.back(), ref, 1e-9 * ref);
    }
}

TEST(Gptvq, BitsPerWeightIsAHandCount) {
    GptvqOptions o;
    o.dim = 2;
    o.bits = 3;         // 64 entries of 2 elements
    o.groupCols = 64;
    o.groupSize = 4096; // 64 rows per codebook
    o.codebookBits = 8;
    // 256 x 512: 4 row blocks x 8 column groups = 32 codebooks of 64*2*8 bits + a 16-bit scale.
    const double total = 256.0 * 256 * 6 + 32.0 * (64 * 2 * 8 + 16);
    EXPECT_DOUBLE_EQ(gptvqTotalBits(o, 256, 512), total);
    Registries reg;
    registerBuiltins(reg);
    const Quantizer& q = reg.quantizers.get("gptvq", "method");
    const nlohmann::json params{{"dim", 2}, {"bits", 3}, {"group_cols", 64}, {"group_size", 4096}};
    EXPECT_DOUBLE_EQ(q.bitsPerWeight(QuantSpec{}, params, 256, 512), total / (256.0 * 512));
    // fp16 codebooks carry no scale.
    o.codebookBits = 16;
    EXPECT_DOUBLE_EQ(gptvqTotalBits(o, 256, 512), 256.0 * 256 * 6 + 32.0 * (64 * 2 * 16));
    // SVD rank 4: 32 x 4 left factors and 4 x 128 right factors in fp16 replace the codebooks.
    o.svdRank = 4;
    EXPECT_DOUBLE_EQ(gptvqTotalBits(o, 256, 512), 256.0 * 256 * 6 + (32.0 * 4 + 4 * 128) * 16);
    // d = 4, 2 bits: 256 entries; 130 columns -> 33 vectors per row (the last one short, full index).
    GptvqOptions o4;
    o4.dim = 4;
    o4.bits = 2;
    o4.groupCols = 256;
    o4.groupSize = 0;
    EXPECT_DOUBLE_EQ(gptvqTotalBits(o4, 10, 130), 10.0 * 33 * 8 + 1.0 * (256 * 4 * 8 + 16));
}

TEST(Gptvq, TwoDimAtThreeBitsBeatsRtnInt3PerChannel) {
    for (unsigned seed : {11u, 12u}) {
        const auto l = qs::test::makeLayer(128, 256, 1024, seed);
        GptvqOptions o;
        o.dim = 2;
        o.bits = 3;
        o.groupCols = 256;
        o.groupSize = 0;
        std::vector<float> q(l.w.size()), rtn(l.w.size());
        const GptvqResult res = gptvqQuantize(matrixOf(l), o, q.data(), {});
        const double bpw = gptvqTotalBits(o, l.rows, l.cols) / double(l.rows * l.cols);
        QuantSpec pc{FormatId::Int3, Granularity::Channel, 0, true};
        EXPECT_LE(bpw, pc.bitsPerWeight(l.rows, l.cols)); // 3.03 vs 3.06
        fakeQuantize(l.w.data(), l.rows, l.cols, pc, rtn.data());
        const double eq = l.outputError(q.data()), er = l.outputError(rtn.data());
        EXPECT_LT(eq, 0.7 * er) << "gptvq " << eq << " rtn " << er;
        EXPECT_LE(res.objective, res.objectiveBeforeUpdate); // the codebook update never hurts
        EXPECT_NEAR(res.objective, eq, 1e-6 * eq);
    }
}

TEST(Gptvq, RowBlocksSvdAndFourDimsRunThroughTheInterface) {
    const auto l = qs::test::makeLayer(96, 130, 512, 5);
    Registries reg;
    registerBuiltins(reg);
    const Quantizer& q = reg.quantizers.get("gptvq", "method");
    for (const nlohmann::json& given : {nlohmann::json{{"dim", 4}, {"bits", 2}, {"group_cols", 64}, {"group_size", 2048}},
                                        nlohmann::json{{"dim", 2}, {"bits", 2}, {"group_cols", 32}, {"group_size", 512},
                                                       {"svd_rank", 3}}}) {
        const auto params = validateParams(q.params(), given, "gptvq");
        std::vector<float> out(l.w.size());
        q.quantize(matrixOf(l), QuantSpec{}, params, out.data(), {});
        for (float v : out) ASSERT_TRUE(std::isfinite(v));
        std::vector<float> zero(l.w.size(), 0.0f);
        EXPECT_LT(l.outputError(out.data()), 0.5 * l.outputError(zero.data())) << given.dump();
    }
    WeightMatrix noStats{l.w.data(), l.rows, l.cols, "x", nullptr};
    std::vector<float> out(l.w.size());
    EXPECT_THROW(q.quantize(noStats, QuantSpec{}, validateParams(q.params(), {}, "gptvq"), out.data(), {}), Error);
}
