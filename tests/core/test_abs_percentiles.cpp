// SPDX-License-Identifier: MIT
// Streaming per-channel percentiles of |x| (AbsHistogram via LinearStatsAccumulator) against exact
// nearest-rank percentiles of the sorted data, and their trip through the HDF5 cache.
#include "statistics/abs_histogram.h"
#include "calib/calib_cache.h"
#include "statistics/stats_accumulator.h"
#include "fixture_paths.h"
#include "base/error.h"

#include <algorithm>
#include <cmath>
#include <gtest/gtest.h>
#include <random>

using namespace qs::core;

namespace {

constexpr auto kLevels = LinearInputStats::kAbsPercentileLevels;

// Element round(p / 100 * (n - 1)) of the sorted |x|: the definition, computed by sorting.
double exactPercentile(std::vector<double> a, double p) {
    std::sort(a.begin(), a.end());
    const auto k = static_cast<std::size_t>(std::llround(p / 100.0 * static_cast<double>(a.size() - 1)));
    return a[k];
}

// Streams `columns` (one vector per channel, equal lengths) in `batches` uneven batches.
LinearInputStats streamColumns(const std::vector<std::vector<float>>& columns, int batches) {
    const auto features = static_cast<std::int64_t>(columns.size());
    const auto rows = static_cast<std::int64_t>(columns[0].size());
    LinearStatsAccumulator acc("site", features, false);
    std::int64_t r0 = 0;
    for (int b = 0; b < batches; ++b) {
        const std::int64_t r1 =
            b + 1 == batches ? rows : std::min(rows, r0 + rows * (b + 1) / (batches * 2) + 1);
        std::vector<float> x(static_cast<std::size_t>((r1 - r0) * features));
        for (std::int64_t r = r0; r < r1; ++r)
            for (std::int64_t c = 0; c < features; ++c)
                x[static_cast<std::size_t>((r - r0) * features + c)] =
                    columns[c][static_cast<std::size_t>(r)];
        acc.add(x.data(), r1 - r0, features);
        r0 = r1;
    }
    EXPECT_EQ(acc.samples(), rows);
    return acc.result();
}

void expectWithinBound(const LinearInputStats& s, const std::vector<std::vector<float>>& columns) {
    for (std::size_t c = 0; c < columns.size(); ++c) {
        std::vector<double> a;
        for (float v : columns[c])
            a.push_back(std::fabs(static_cast<double>(v)));
        for (std::size_t l = 0; l < kLevels.size(); ++l) {
            const double exact = exactPercentile(a, kLevels[l]);
            const double est = s.absPercentile(static_cast<std::int64_t>(c), l);
            EXPECT_LE(std::fabs(est - exact), AbsHistogram::kRelativeError * exact)
                << "channel " << c << " p" << kLevels[l] << " exact " << exact << " estimate " << est;
        }
    }
}

} // namespace

TEST(AbsPercentiles, RandomAndHeavyTailedWithinTheBinBound) {
    constexpr int kRows = 20011;
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::exponential_distribution<float> expo(1.0f);
    std::student_t_distribution<float> student(2.0f);
    std::bernoulli_distribution coin(0.5);
    std::vector<std::vector<float>> cols(6, std::vector<float>(kRows));
    for (int r = 0; r < kRows; ++r) {
        cols[0][r] = normal(rng);
        cols[1][r] = 1e-3f * normal(rng) + 2e-3f;                     // small, offset
        cols[2][r] = (coin(rng) ? 1.0f : -1.0f) * expo(rng);          // Laplace
        cols[3][r] = 40.0f * student(rng);                            // Student-t, 2 dof: very heavy tail
        cols[4][r] = 300.0f * student(rng) * normal(rng);             // heavier still, wide range
        cols[5][r] = std::ldexp(1.0f, static_cast<int>(r % 30) - 12); // bin edges exactly
    }
    const LinearInputStats s = streamColumns(cols, 7);
    expectWithinBound(s, cols);
    // The bound is not vacuous: the estimates are not exact for continuous data.
    EXPECT_NE(s.absPercentile(0, 0), exactPercentile({cols[0].begin(), cols[0].end()}, 50.0));
}

TEST(AbsPercentiles, ZerosConstantAndASingleToken) {
    constexpr int kRows = 1000;
    std::mt19937 rng(9);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<std::vector<float>> cols(4, std::vector<float>(kRows, 0.0f));
    for (int r = 0; r < kRows; ++r) {
        cols[1][r] = r % 50 == 0 ? normal(rng) : 0.0f; // 98% zeros (ReLU-like)
        cols[2][r] = -3.0f;                            // constant
        cols[3][r] = 0.7f;                             // constant, not a bin edge
    }
    const LinearInputStats s = streamColumns(cols, 3);
    for (std::size_t l = 0; l < kLevels.size(); ++l)
        EXPECT_EQ(s.absPercentile(0, l), 0.0) << l;
    EXPECT_EQ(s.absPercentile(1, 0), 0.0); // p50 and p90 of a 98%-zero channel are exact zeros
    EXPECT_EQ(s.absPercentile(1, 1), 0.0);
    EXPECT_GT(s.absPercentile(1, 3), 0.0);
    for (std::size_t l = 0; l < kLevels.size(); ++l) {
        EXPECT_EQ(s.absPercentile(2, l), 3.0) << l; // capped at the exact max |x|
        EXPECT_NEAR(s.absPercentile(3, l), 0.7f, AbsHistogram::kRelativeError * 0.7) << l;
    }
    expectWithinBound(s, cols);

    // One token: every percentile is that token's |x|, exactly.
    const std::vector<float> token{0.0f, -2.5f, 1e-30f, 123456.0f, 1e30f};
    LinearStatsAccumulator one("one", 5, false);
    one.add(token.data(), 1, 5);
    const LinearInputStats t = one.result();
    for (std::int64_t c = 0; c < 5; ++c)
        for (std::size_t l = 0; l < kLevels.size(); ++l)
            EXPECT_EQ(t.absPercentile(c, l), std::fabs(static_cast<double>(token[c]))) << c << " " << l;

    // Before any data: zeros; asking for a missing level or channel is an Error.
    EXPECT_EQ(LinearStatsAccumulator("empty", 2, false).result().absPercentile(1, 4), 0.0);
    EXPECT_THROW(t.absPercentile(5, 0), Error);
    EXPECT_THROW(t.absPercentile(0, kLevels.size()), Error);
    EXPECT_THROW(LinearInputStats{}.absPercentile(0, 0), Error);
}

TEST(AbsPercentiles, OutsideTheBinnedRange) {
    // Underflow (below 2^-24) and overflow (2^20 and up) bins: within kMinAbs, and within [kMaxAbs, absMax].
    std::vector<std::vector<float>> cols(2, std::vector<float>(101));
    for (int r = 0; r < 101; ++r) {
        cols[0][r] = 1e-10f * static_cast<float>(r + 1);
        cols[1][r] = 2e6f + 1e4f * static_cast<float>(r);
    }
    const LinearInputStats s = streamColumns(cols, 2);
    for (std::size_t l = 0; l < kLevels.size(); ++l) {
        EXPECT_LE(s.absPercentile(0, l), std::ldexp(1.0, AbsHistogram::kMinExponent)) << l;
        EXPECT_GE(s.absPercentile(1, l), std::ldexp(1.0, AbsHistogram::kMaxExponent)) << l;
        EXPECT_LE(s.absPercentile(1, l), 2e6 + 1e6) << l;
    }
}

TEST(AbsPercentiles, SurviveTheCache) {
    const auto file = qs::test::outputDir("abs_percentiles_cache") / "calib-x.h5";
    LinearStatsAccumulator acc("s", 2, true);
    const std::vector<float> x{1.0f, 2.0f, -3.0f, 4.0f, 0.5f, 0.0f};
    acc.add(x.data(), 3, 2);
    saveCalibStats(file, "x", {acc.result()});
    const LinearInputStats back = loadCalibStats(file, "x").at(0);
    EXPECT_EQ(back.absPercentiles, acc.result().absPercentiles);
    EXPECT_NEAR(back.absPercentile(0, 0), 1.0, AbsHistogram::kRelativeError); // |x| of channel 0: 0.5, 1, 3
    // A slice of the channels carries its percentiles along (mixed-precision quantizers use slices).
    EXPECT_EQ(back.columns(1, 1).absPercentile(0, 4), back.absPercentile(1, 4));
}
