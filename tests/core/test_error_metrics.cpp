// SPDX-License-Identifier: MIT
// Layer error metrics are the same bits at any thread count (sharded sweeps store what one process does).
#include "statistics/error_metrics.h"

#include <gtest/gtest.h>
#include <omp.h>
#include <random>
#include <vector>

using namespace qs::core;

TEST(ErrorMetrics, SameBitsAtAnyThreadCount) {
    std::mt19937 rng(7);
    std::normal_distribution<float> dist(0.f, 0.02f);
    std::vector<float> w(100003), q(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) {
        w[i] = dist(rng);
        q[i] = std::round(w[i] * 64.f) / 64.f;
    }
    const int before = omp_get_max_threads();
    omp_set_num_threads(1);
    const ErrorMetrics one = computeError(w.data(), q.data(), static_cast<std::int64_t>(w.size()));
    for (int threads : {2, 3, 7}) {
        omp_set_num_threads(threads);
        const ErrorMetrics e = computeError(w.data(), q.data(), static_cast<std::int64_t>(w.size()));
        EXPECT_EQ(e.mse, one.mse) << threads;
        EXPECT_EQ(e.sqnrDb, one.sqnrDb) << threads;
        EXPECT_EQ(e.maxAbs, one.maxAbs) << threads;
    }
    omp_set_num_threads(before);
    EXPECT_GT(one.mse, 0);
}
