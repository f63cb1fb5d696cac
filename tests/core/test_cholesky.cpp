// SPDX-License-Identifier: MIT
// The blocked Cholesky factorisation and triangular inverse against their definitions in double:
// L·Lᵀ reproduces A and R·V is the identity, across the block size (128) and its edges; a matrix
// that is not positive definite is refused; the same bits at 1 and 2 threads.
#include "tensor/cholesky.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <random>
#include <vector>

using namespace qs::core;

namespace {

// A well-conditioned SPD matrix: X·Xᵀ/k + I for a random X [n, k].
std::vector<float> spd(std::int64_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> d(0.0, 1.0);
    const std::int64_t k = n + 16;
    std::vector<double> x(static_cast<std::size_t>(n * k));
    for (double& v : x) v = d(rng);
    std::vector<float> a(static_cast<std::size_t>(n * n));
    for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < n; ++j) {
            double s = i == j ? 1.0 : 0.0;
            for (std::int64_t q = 0; q < k; ++q) s += x[i * k + q] * x[j * k + q] / static_cast<double>(k);
            a[static_cast<std::size_t>(i * n + j)] = static_cast<float>(s);
        }
    return a;
}

} // namespace

TEST(Cholesky, FactorReproducesTheMatrix) {
    for (std::int64_t n : {1, 5, 128, 129, 300}) {
        SCOPED_TRACE(n);
        const std::vector<float> a = spd(n, 1);
        std::vector<float> l = a;
        // The upper triangle is not read: garbage there changes nothing.
        for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t j = i + 1; j < n; ++j) l[static_cast<std::size_t>(i * n + j)] = std::nanf("");
        ASSERT_TRUE(choleskyLower({l.data(), n, n, n}));
        double worst = 0;
        for (std::int64_t i = 0; i < n; ++i) {
            ASSERT_GT(l[static_cast<std::size_t>(i * n + i)], 0.0f);
            for (std::int64_t j = 0; j <= i; ++j) {
                double s = 0;
                for (std::int64_t q = 0; q <= j; ++q) s += double(l[i * n + q]) * l[j * n + q];
                worst = std::max(worst, std::abs(s - a[static_cast<std::size_t>(i * n + j)]));
            }
        }
        EXPECT_LT(worst, 2e-5 * std::sqrt(double(n))); // float32 roundings of O(1) entries
    }
}

TEST(Cholesky, RefusesAMatrixThatIsNotPositiveDefinite) {
    const std::int64_t n = 200;
    std::vector<float> a = spd(n, 2);
    a[static_cast<std::size_t>(150 * n + 150)] = -1.0f; // a pivot past the first block
    EXPECT_FALSE(choleskyLower({a.data(), n, n, n}));
    std::vector<float> b = spd(n, 3);
    b[static_cast<std::size_t>(3 * n + 3)] = std::nanf("");
    EXPECT_FALSE(choleskyLower({b.data(), n, n, n}));
}

TEST(Cholesky, UpperInverseTimesTheMatrixIsTheIdentity) {
    for (std::int64_t n : {1, 7, 128, 257, 300}) {
        SCOPED_TRACE(n);
        // V = Lᵀ of an SPD matrix's factor: upper, well conditioned; garbage below the diagonal.
        std::vector<float> l = spd(n, 4);
        ASSERT_TRUE(choleskyLower({l.data(), n, n, n}));
        std::vector<float> v(static_cast<std::size_t>(n * n), std::nanf(""));
        for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t j = i; j < n; ++j) v[static_cast<std::size_t>(i * n + j)] = l[static_cast<std::size_t>(j * n + i)];
        std::vector<float> r(static_cast<std::size_t>(n * n), 7.0f);
        invertUpper({v.data(), n, n, n}, {r.data(), n, n, n});
        double worst = 0;
        for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t j = 0; j < n; ++j) {
                if (j < i) {
                    ASSERT_EQ(r[static_cast<std::size_t>(i * n + j)], 0.0f) << i << "," << j;
                    continue;
                }
                double s = 0;
                for (std::int64_t q = i; q <= j; ++q) s += double(r[i * n + q]) * v[q * n + j];
                worst = std::max(worst, std::abs(s - (i == j ? 1.0 : 0.0)));
            }
        EXPECT_LT(worst, 1e-5 * std::sqrt(double(n)));
    }
}

TEST(Cholesky, SameBitsAtAnyThreadCount) {
    const std::int64_t n = 400;
    const std::vector<float> a = spd(n, 5);
    const int saved = omp_get_max_threads();
    auto run = [&](int threads) {
        omp_set_num_threads(threads);
        std::vector<float> l = a, r(a.size());
        EXPECT_TRUE(choleskyLower({l.data(), n, n, n}));
        for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t j = 0; j < i; ++j) std::swap(l[static_cast<std::size_t>(i * n + j)], l[static_cast<std::size_t>(j * n + i)]);
        invertUpper({l.data(), n, n, n}, {r.data(), n, n, n});
        return r;
    };
    EXPECT_EQ(run(1), run(2));
    omp_set_num_threads(saved);
}
