// SPDX-License-Identifier: MIT
// Random re-rounding (misalignment's perturbations): on a uniform grid with q the nearest level it is
// stochastic rounding (moves to the other neighbour with probability distance / step), scaled by the
// share of elements touched; values stay on the group's levels; exact levels never move.
#include "analysis/misalignment.h"
#include "base/error.h"

#include <algorithm>
#include <cmath>
#include <gtest/gtest.h>
#include <set>

using namespace qs::core;

namespace {

constexpr double kStep = 0.125;
constexpr std::int64_t kGroup = 32;

// Rows of two groups of 32: the first 17 elements of each group are the levels -1, -0.875, ..., 1
// themselves (so the group uses every level), the other 15 lie 0.3 steps above a level.
struct Case {
    std::int64_t rows = 400, cols = 2 * kGroup;
    std::vector<float> w, q;
    Case() {
        for (std::int64_t r = 0; r < rows; ++r)
            for (std::int64_t c = 0; c < cols; ++c) {
                const std::int64_t k = c % kGroup;
                const double level = k < 17 ? -1 + kStep * double(k) : -1 + kStep * double((k * 7 + r) % 16);
                w.push_back(float(k < 17 ? level : level + 0.3 * kStep));
                q.push_back(float(level));
            }
    }
};

} // namespace

TEST(RandomRerounding, IsStochasticRoundingOnAUniformGridScaledByTheShare) {
    const Case c;
    for (double share : {1.0, 0.5}) {
        std::mt19937_64 rng(7);
        const std::vector<float> out = randomRerounding(c.w, c.q, c.rows, c.cols, kGroup, share, rng);
        long long moved = 0, candidates = 0;
        for (std::size_t i = 0; i < out.size(); ++i) {
            if (c.w[i] == c.q[i]) {
                EXPECT_EQ(out[i], c.q[i]); // an exact level never moves
                continue;
            }
            ++candidates;
            if (out[i] != c.q[i]) {
                ++moved;
                EXPECT_FLOAT_EQ(out[i], c.q[i] + float(kStep)); // to the level on w's side, one step
            }
        }
        // Binomial(n, 0.3 * share): within five standard deviations.
        const double p = 0.3 * share, n = double(candidates);
        EXPECT_NEAR(double(moved) / n, p, 5 * std::sqrt(p * (1 - p) / n)) << share;
    }
    std::mt19937_64 a(3), b(3);
    EXPECT_EQ(randomRerounding(c.w, c.q, c.rows, c.cols, kGroup, 0.7, a),
              randomRerounding(c.w, c.q, c.rows, c.cols, kGroup, 0.7, b)); // the same seed, the same bits
    std::mt19937_64 none(1);
    EXPECT_EQ(randomRerounding(c.w, c.q, c.rows, c.cols, kGroup, 0.0, none), c.q);
}

TEST(RandomRerounding, NonUniformLevelsUseTheNextLevelTheGroupUses) {
    // One group using the levels -1, -0.25, 0, 0.5, 1 (an FP-like grid); w = 0.1 rounded to 0.
    std::vector<float> w{-1, -0.25f, 0, 0.5f, 1}, q = w;
    for (int i = 0; i < 20000; ++i) w.push_back(0.1f), q.push_back(0);
    std::mt19937_64 rng(11);
    const std::vector<float> out = randomRerounding(w, q, 1, std::int64_t(w.size()), 0, 1.0, rng);
    const std::set<float> levels{-1, -0.25f, 0, 0.5f, 1};
    long long moved = 0;
    for (std::size_t i = 5; i < out.size(); ++i) {
        EXPECT_TRUE(levels.count(out[i])) << out[i];
        if (out[i] != 0) {
            EXPECT_EQ(out[i], 0.5f);
            ++moved;
        }
    }
    EXPECT_NEAR(double(moved) / 20000.0, 0.2, 5 * std::sqrt(0.2 * 0.8 / 20000.0)); // 0.1 / 0.5
    std::vector<float> shorter(q.begin(), q.end() - 1);
    std::mt19937_64 r2(1);
    EXPECT_THROW(randomRerounding(w, shorter, 1, std::int64_t(w.size()), 0, 1.0, r2), Error);
}

TEST(RandomRerounding, ScaleGroupsFollowTheSpec) {
    QuantSpec group;
    group.format = FormatId::Int4;
    group.granularity = Granularity::Group;
    group.groupSize = 32;
    EXPECT_EQ(scaleGroupCols(group, 192), 32);
    EXPECT_EQ(scaleGroupCols(group, 16), 16);
    QuantSpec channel = group;
    channel.granularity = Granularity::Channel;
    EXPECT_EQ(scaleGroupCols(channel, 192), 0);
}
