// SPDX-License-Identifier: MIT
// The four-lane float64 exp and the row sums built on it (log-sum-exp, KL divergence), against
// long double references (64-bit significands) written here with expl/logl.
#include "eval/token_metrics.h"
#include "tensor/simd_f64.h"

#include <cmath>
#include <gtest/gtest.h>
#include <limits>
#include <random>
#include <vector>

using namespace qs::core;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// |got - exact| in units of the last place of the double nearest to exact.
double ulpError(double got, long double exact) {
    const double nearest = static_cast<double>(exact);
    const double ulp = std::nextafter(nearest, kInf) - nearest;
    return static_cast<double>(std::fabs(static_cast<long double>(got) - exact) / ulp);
}

double laneExp(double t) {
    return simd::exp(simd::splatD(t))[0];
}

long double referenceLse(const std::vector<float>& x) {
    long double mx = -kInf, sum = 0;
    for (float v : x) mx = std::max<long double>(mx, v);
    for (float v : x) sum += expl(v - mx);
    return mx + logl(sum);
}

} // namespace

TEST(SimdF64, ExpIsWithinOneUlpOfTheExactValue) {
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> wide(-708, 708), near(-1, 1);
    double worst = 0;
    for (int i = 0; i < 200000; ++i) {
        const double t = i % 2 ? wide(rng) : near(rng);
        worst = std::max(worst, ulpError(laneExp(t), expl(static_cast<long double>(t))));
    }
    EXPECT_LE(worst, 1.0);
    // Each lane on its own.
    const simd::D4 t{-3.5, 0.25, 100.0, -700.0};
    const simd::D4 e = simd::exp(t);
    for (int k = 0; k < 4; ++k) EXPECT_LE(ulpError(e[k], expl(static_cast<long double>(t[k]))), 1.0) << k;
}

TEST(SimdF64, ExpAtItsEdges) {
    EXPECT_EQ(laneExp(0.0), 1.0);
    EXPECT_EQ(laneExp(-kInf), 0.0);
    EXPECT_EQ(laneExp(-709.0), 0.0); // below the floor: 0, nothing beside a sum of at least 1
    EXPECT_EQ(laneExp(kInf), kInf);
    EXPECT_EQ(laneExp(710.0), kInf);
    EXPECT_TRUE(std::isnan(laneExp(std::numeric_limits<double>::quiet_NaN())));
    EXPECT_LE(ulpError(laneExp(-708.0), expl(-708.0L)), 1.0);
    EXPECT_LE(ulpError(laneExp(708.0), expl(708.0L)), 1.0);
    EXPECT_LE(ulpError(laneExp(std::log(2.0)), expl(static_cast<long double>(std::log(2.0)))), 1.0);
}

TEST(SimdF64, LogSumExpAndKlDivergenceAgreeWithLongDoubleAtEveryLength) {
    std::mt19937 rng(3);
    std::normal_distribution<float> logit(0, 4);
    for (int n = 1; n <= 37; ++n) {
        std::vector<float> a(static_cast<std::size_t>(n)), b(a.size());
        for (auto& v : a) v = logit(rng);
        for (auto& v : b) v = logit(rng);
        if (n > 2) a[1] = -std::numeric_limits<float>::infinity(); // a token the reference rules out
        const long double lseA = referenceLse(a), lseB = referenceLse(b);
        EXPECT_NEAR(logSumExp(a.data(), n), static_cast<double>(lseA), 1e-14 * std::max(1.0L, fabsl(lseA))) << n;
        long double kl = 0;
        for (int i = 0; i < n; ++i) {
            const long double logPa = a[i] - lseA, logPb = b[i] - lseB;
            if (expl(logPa) > 0) kl += expl(logPa) * (logPa - logPb);
        }
        EXPECT_NEAR(klDivergence(a.data(), b.data(), n), static_cast<double>(kl), 1e-13) << n;
        EXPECT_NEAR(klDivergence(a.data(), a.data(), n), 0.0, 1e-15) << n;
    }
    // A NaN logit makes the sum NaN; an infinite one is returned as it is.
    const float withNan[5] = {1, 2, std::numeric_limits<float>::quiet_NaN(), 3, 4};
    EXPECT_TRUE(std::isnan(logSumExp(withNan + 1, 4)));
}
