// SPDX-License-Identifier: MIT
// Layer statistics and histograms against closed forms.
#include "statistics/error_metrics.h"
#include "statistics/histogram.h"
#include "statistics/tensor_stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace qs::core;

TEST(TensorStats, SmallMatrixClosedForm) {
    // Values 1..4 in two rows: mean 2.5, variance 1.25, m4 = (2*1.5^4 + 2*0.5^4)/4 = 2.5625.
    std::vector<float> x{1, -2, 3, 4};
    std::vector<float> y{1, 2, 3, 4};
    TensorStats s = computeTensorStats(y.data(), 2, 2);
    EXPECT_EQ(s.count, 4);
    EXPECT_DOUBLE_EQ(s.mean, 2.5);
    EXPECT_DOUBLE_EQ(s.std, std::sqrt(1.25));
    EXPECT_DOUBLE_EQ(s.kurtosis, 2.5625 / (1.25 * 1.25));
    EXPECT_EQ(s.min, 1);
    EXPECT_EQ(s.max, 4);
    EXPECT_EQ(s.outlierShare, 0);
    TensorStats t = computeTensorStats(x.data(), 2, 2);
    EXPECT_EQ(t.channelAbsmaxMin, 2); // row 0: |1|, |-2|
    EXPECT_EQ(t.channelAbsmaxMax, 4);
}

TEST(TensorStats, GaussianKurtosisIsThreeAndOneOutlierIsFound) {
    std::mt19937 rng(11);
    std::normal_distribution<float> d(0, 1);
    std::vector<float> x(1 << 18);
    for (auto& v : x) v = d(rng);
    TensorStats s = computeTensorStats(x.data(), 512, 512);
    EXPECT_NEAR(s.kurtosis, 3.0, 0.05);
    EXPECT_LT(s.outlierShare, 1e-5); // P(|z| > 6) ~ 2e-9
    x[5] = 100.0f;
    TensorStats t = computeTensorStats(x.data(), 512, 512);
    EXPECT_DOUBLE_EQ(t.outlierShare * x.size(), std::round(t.outlierShare * x.size()));
    EXPECT_GE(t.outlierShare * x.size(), 1.0);
    EXPECT_GT(t.kurtosis, 10.0);
}

TEST(Histogram, CountsEdgesAndOutOfRange) {
    std::vector<float> x{0.0f, 0.1f, 0.5f, 0.99f, 1.0f, -0.5f, 2.0f, NAN};
    Histogram h = computeHistogram(x.data(), static_cast<std::int64_t>(x.size()), 2, 0.0, 1.0);
    ASSERT_EQ(h.counts.size(), 2u);
    EXPECT_EQ(h.counts[0], 2); // 0, 0.1
    EXPECT_EQ(h.counts[1], 3); // 0.5, 0.99, 1.0 (top edge in the last bin)
    EXPECT_EQ(h.underflow, 1);
    EXPECT_EQ(h.overflow, 1);
    EXPECT_DOUBLE_EQ(h.binCentre(1), 0.75);
}

TEST(ErrorMetrics, SqnrOfKnownNoise) {
    std::vector<float> a{1, 1, 1, 1}, b{1.1f, 0.9f, 1.1f, 0.9f};
    ErrorMetrics e = computeError(a.data(), b.data(), 4);
    EXPECT_NEAR(e.mse, 0.01, 1e-8);
    EXPECT_NEAR(e.sqnrDb, 20.0, 1e-5);
    EXPECT_NEAR(e.maxAbs, 0.1, 1e-7);
    EXPECT_TRUE(std::isinf(computeError(a.data(), a.data(), 4).sqnrDb));
}
