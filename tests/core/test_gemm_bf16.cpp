// SPDX-License-Identifier: MIT
// The bf16 products (tensor/gemm_bf16.h) against float64 sums of the bf16-rounded operands, on the
// AMX tiles where this processor has them and on the float32 products when they are held back (or
// absent); rounding checked on hand-picked values; the invariances evaluation relies on: a row gives
// the same bits alone, in a batch and at 1 or 2 threads.
#include "base/error.h"
#include "tensor/compact_matrix.h"
#include "tensor/gemm_bf16.h"
#include "tensor/half.h"

#include <cmath>
#include <gtest/gtest.h>
#include <limits>
#include <omp.h>
#include <random>
#include <string>
#include <vector>

using namespace qs::core;

namespace {

std::vector<float> normals(std::int64_t count, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> v(static_cast<std::size_t>(count));
    for (auto& e : v)
        e = d(rng);
    return v;
}

double rounded(float v) {
    return bf16ToF32(f32ToBf16(v));
}

// Runs fn once with the tiles allowed and once held back (the same path twice without AMX).
template <class Fn> void onBothPaths(Fn&& fn) {
    for (const bool allow : {true, false}) {
        const bool before = allowBf16Tiles(allow);
        SCOPED_TRACE(allow && bf16TilesAvailable() ? "AMX tiles" : "float32 products");
        fn();
        allowBf16Tiles(before);
    }
}

} // namespace

TEST(Bf16Products, EqualTheSumsOfTheRoundedOperands) {
    struct Shape {
        std::int64_t m, n, k;
    };
    // Edges of every kind: rows, columns and k off the tiles' 32 and 16, one of each, k of 1.
    for (const Shape s : {Shape{1, 1, 1}, Shape{37, 45, 70}, Shape{64, 100, 33}, Shape{130, 70, 300},
                          Shape{33, 17, 32}, Shape{5, 3, 1}}) {
        SCOPED_TRACE(std::to_string(s.m) + " x " + std::to_string(s.n) + " x " + std::to_string(s.k));
        const std::vector<float> a = normals(s.m * s.k, 1), b = normals(s.n * s.k, 2), bias = normals(s.n, 3);
        onBothPaths([&] {
            const Bf16Panels panels = Bf16Panels::fromRows({b.data(), s.n, s.k, s.k});
            EXPECT_EQ(panels.tiled(), bf16TilesAvailable());
            std::vector<float> c(static_cast<std::size_t>(s.m * s.n));
            gemmBf16({a.data(), s.m, s.k, s.k}, panels, {c.data(), s.m, s.n, s.n}, bias.data());
            for (std::int64_t i = 0; i < s.m; ++i)
                for (std::int64_t j = 0; j < s.n; ++j) {
                    double exact = bias[static_cast<std::size_t>(j)], magnitude = std::fabs(exact);
                    for (std::int64_t t = 0; t < s.k; ++t) {
                        const double term = rounded(a[static_cast<std::size_t>(i * s.k + t)]) *
                                            rounded(b[static_cast<std::size_t>(j * s.k + t)]);
                        exact += term;
                        magnitude += std::fabs(term);
                    }
                    // float32 sums: a few roundings of the terms' magnitude.
                    EXPECT_NEAR(c[static_cast<std::size_t>(i * s.n + j)], exact,
                                4.0 * static_cast<double>(s.k + 1) * 6e-8 * magnitude)
                        << "C(" << i << ", " << j << ")";
                }
        });
    }
}

TEST(Bf16Products, RoundBothOperandsToNearestEven) {
    // bf16 keeps 7 mantissa bits: its step above 1 is 2^-7. 1 + 2^-9 rounds down to 1; 1 + 2^-8, a tie,
    // to 1 (even); 1 + 3·2^-8, a tie, up to 1 + 2^-6 (even); 1 + 2^-7 is exact. Each product with 1
    // shows its operand's rounding, in A (the input) and in B (the weight).
    const std::vector<float> values{1.0f + 0x1p-9f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-7f};
    const std::vector<float> want{1.0f, 1.0f, 1.0f + 0x1p-6f, 1.0f + 0x1p-7f};
    const float one = 1.0f;
    onBothPaths([&] {
        // A: four rows of one value, B = [1].
        const Bf16Panels unit = Bf16Panels::fromRows({&one, 1, 1, 1});
        std::vector<float> c(4);
        gemmBf16({values.data(), 4, 1, 1}, unit, {c.data(), 4, 1, 1});
        EXPECT_EQ(c, want);
        // B: four rows of one value, A = [1].
        const Bf16Panels weights = Bf16Panels::fromRows({values.data(), 4, 1, 1});
        gemmBf16({&one, 1, 1, 1}, weights, {c.data(), 1, 4, 4});
        EXPECT_EQ(c, want);
    });
}

TEST(Bf16Products, RowsGiveTheirBitsAloneInABatchAndAtAnyThreadCount) {
    const std::int64_t m = 100, n = 300, k = 260;
    const std::vector<float> a = normals(m * k, 4), b = normals(n * k, 5);
    onBothPaths([&] {
        const Bf16Panels panels = Bf16Panels::fromRows({b.data(), n, k, k});
        auto product = [&](int threads) {
            const int saved = omp_get_max_threads();
            omp_set_num_threads(threads);
            std::vector<float> c(static_cast<std::size_t>(m * n));
            gemmBf16({a.data(), m, k, k}, panels, {c.data(), m, n, n});
            omp_set_num_threads(saved);
            return c;
        };
        const std::vector<float> one = product(1), two = product(2);
        EXPECT_EQ(one, two);
        for (const std::int64_t r : {0, 31, 32, 99}) {
            std::vector<float> row(static_cast<std::size_t>(n));
            gemmBf16({a.data() + r * k, 1, k, k}, panels, {row.data(), 1, n, n});
            EXPECT_TRUE(std::equal(row.begin(), row.end(), one.begin() + r * n)) << "row " << r;
        }
    });
}

TEST(Bf16Products, PanelsFromColumnsAndFromCompactRowsEqualPanelsFromRows) {
    const std::int64_t m = 40, n = 70, k = 90;
    const std::vector<float> a = normals(m * k, 6), b = normals(n * k, 7);
    std::vector<float> bT(static_cast<std::size_t>(k * n));
    std::vector<std::uint16_t> b16(b.size());
    for (std::int64_t j = 0; j < n; ++j)
        for (std::int64_t t = 0; t < k; ++t) {
            bT[static_cast<std::size_t>(t * n + j)] = b[static_cast<std::size_t>(j * k + t)];
            b16[static_cast<std::size_t>(j * k + t)] = f32ToBf16(b[static_cast<std::size_t>(j * k + t)]);
        }
    CompactMatrixView compact;
    compact.kind = CompactMatrixView::Kind::Bf16;
    compact.data = b16.data();
    compact.rows = n;
    compact.cols = compact.stride = k;
    onBothPaths([&] {
        auto product = [&](const Bf16Panels& panels) {
            std::vector<float> c(static_cast<std::size_t>(m * n));
            gemmBf16({a.data(), m, k, k}, panels, {c.data(), m, n, n});
            return c;
        };
        const std::vector<float> fromRows = product(Bf16Panels::fromRows({b.data(), n, k, k}));
        EXPECT_EQ(product(Bf16Panels::fromColumns({bT.data(), k, n, n})), fromRows);
        EXPECT_EQ(product(Bf16Panels::fromRows(compact)), fromRows);
    });
}

TEST(Bf16Products, InfinityAndNanReachTheirRows) {
    const std::int64_t k = 40, n = 3;
    std::vector<float> a(static_cast<std::size_t>(3 * k), 0.5f), b(static_cast<std::size_t>(n * k), 0.25f);
    a[5] = std::numeric_limits<float>::infinity();      // row 0
    a[k + 7] = std::numeric_limits<float>::quiet_NaN(); // row 1
    onBothPaths([&] {
        const Bf16Panels panels = Bf16Panels::fromRows({b.data(), n, k, k});
        std::vector<float> c(static_cast<std::size_t>(3 * n));
        gemmBf16({a.data(), 3, k, k}, panels, {c.data(), 3, n, n});
        for (std::int64_t j = 0; j < n; ++j) {
            EXPECT_EQ(c[static_cast<std::size_t>(j)], std::numeric_limits<float>::infinity());
            EXPECT_TRUE(std::isnan(c[static_cast<std::size_t>(n + j)]));
            EXPECT_EQ(c[static_cast<std::size_t>(2 * n + j)], 0.5f * 0.25f * k);
        }
    });
}

TEST(Bf16Products, EmptySumsGiveTheBiasAndShapesAreChecked) {
    const std::vector<float> bias{1.5f, -2.0f};
    onBothPaths([&] {
        const Bf16Panels empty = Bf16Panels::fromRows({nullptr, 2, 0, 0});
        std::vector<float> c(6, 7.0f);
        gemmBf16({nullptr, 3, 0, 0}, empty, {c.data(), 3, 2, 2}, bias.data());
        EXPECT_EQ(c, (std::vector<float>{1.5f, -2.0f, 1.5f, -2.0f, 1.5f, -2.0f}));
        const std::vector<float> b(8, 1.0f), a(12, 1.0f);
        const Bf16Panels panels = Bf16Panels::fromRows({b.data(), 2, 4, 4});
        EXPECT_THROW(gemmBf16({a.data(), 4, 3, 3}, panels, {c.data(), 3, 2, 2}), Error); // k 3 against 4
        EXPECT_THROW(gemmBf16({a.data(), 3, 4, 4}, panels, {c.data(), 3, 3, 3}), Error); // C's columns
    });
}
