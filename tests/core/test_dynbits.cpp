// SPDX-License-Identifier: MIT
// Per-group bit widths under a layer budget: the allocator against brute force and its limits, and
// the quantizer against uniform RTN at the end points and at equal bits.
#include "builtin_registries.h"
#include "fixture_models.h"
#include "quant/dynbits.h"
#include "quant/fake_quant.h"
#include "base/error.h"

#include <gtest/gtest.h>
#include <random>

using namespace qs::core;

namespace {

double sse(const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += (double(a[i]) - double(b[i])) * (double(a[i]) - double(b[i]));
    return s;
}

} // namespace

TEST(DynBits, AllocationFitsTheBudgetAndIsNearTheBruteForceOptimum) {
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> u(0, 1);
    for (int t = 0; t < 200; ++t) {
        const std::size_t groups = 1 + rng() % 7, options = 3;
        std::vector<double> error(groups * options), cost(groups * options);
        for (std::size_t g = 0; g < groups; ++g) {
            double e = 10 * u(rng);
            for (std::size_t w = 0; w < options; ++w) { // wider: dearer and more exact, as INT widths are
                cost[g * options + w] = double(3 + 2 * w) * 8;
                error[g * options + w] = e;
                e *= 0.2 + 0.5 * u(rng);
            }
        }
        double lo = 0, hi = 0;
        for (std::size_t g = 0; g < groups; ++g) {
            lo += cost[g * options];
            hi += cost[g * options + options - 1];
        }
        const double budget = lo + (hi - lo) * u(rng);
        const std::vector<int> choice = allocateByRateDistortion(error, cost, options, budget);
        double used = 0, got = 0;
        for (std::size_t g = 0; g < groups; ++g) {
            used += cost[g * options + std::size_t(choice[g])];
            got += error[g * options + std::size_t(choice[g])];
        }
        EXPECT_LE(used, budget + 1e-9);
        double best = 1e300;
        std::vector<int> c(groups, 0);
        for (;;) {
            double uc = 0, ue = 0;
            for (std::size_t g = 0; g < groups; ++g) {
                uc += cost[g * options + std::size_t(c[g])];
                ue += error[g * options + std::size_t(c[g])];
            }
            if (uc <= budget) best = std::min(best, ue);
            std::size_t g = 0;
            while (g < groups && ++c[g] == int(options)) c[g++] = 0;
            if (g == groups) break;
        }
        // Rate-distortion allocation is optimal on the convex hull; off it, within the worst group's step.
        EXPECT_GE(got, best - 1e-12);
        EXPECT_LE(got, best + 10.0) << t;
    }
    EXPECT_THROW(allocateByRateDistortion({1, 0}, {3, 4}, 2, 2.0), Error); // below the cheapest
    EXPECT_EQ(allocateByRateDistortion({1, 0, 1, 0}, {3, 4, 3, 4}, 2, 1e9), (std::vector<int>{1, 1}));
    EXPECT_EQ(allocateByRateDistortion({1, 0, 1, 0}, {3, 4, 3, 4}, 2, 6.0), (std::vector<int>{0, 0}));
}

TEST(DynBits, EndPointsEqualUniformRtnAndEqualBitsAreNoWorse) {
    const Model& model = qs::test::fixtureModel();
    const WeightInfo* info = nullptr;
    for (const auto& w : model.weights())
        if (w.name == "model.layers.1.mlp.down_proj.weight") info = &w;
    ASSERT_NE(info, nullptr);
    const std::vector<float> weights = model.weightAsOutIn(*info);
    const std::int64_t rows = info->matrixRows(), cols = info->matrixCols();
    const Quantizer& dyn = qs::test::builtinRegistries().quantizers.get("dynbits", "method");
    QuantSpec spec{FormatId::Int4, Granularity::Group, 32, false};
    const auto uniform = [&](FormatId f) {
        QuantSpec s = spec;
        s.format = f;
        std::vector<float> out(weights.size());
        fakeQuantize(weights.data(), rows, cols, s, out.data());
        return std::make_pair(out, s.bitsPerWeight(rows, cols));
    };
    const double index = 2.0 / 32; // widths 3,4,8: a 2-bit index per group of 32
    for (FormatId f : {FormatId::Int3, FormatId::Int8}) {
        const auto [want, bits] = uniform(f);
        std::vector<float> got(weights.size());
        dyn.quantize({weights.data(), rows, cols, info->name}, spec, {{"widths", "3,4,8"}, {"target", bits + index}},
                     got.data(), {});
        EXPECT_EQ(got, want) << int(f); // int3 everywhere fits exactly; int8 everywhere is the best that fits
    }
    const auto [int4, bits4] = uniform(FormatId::Int4);
    std::vector<float> got(weights.size());
    const nlohmann::json params{{"widths", "3,4,8"}, {"target", bits4 + index}};
    dyn.quantize({weights.data(), rows, cols, info->name}, spec, params, got.data(), {});
    EXPECT_LE(sse(got, weights), sse(int4, weights));
    EXPECT_EQ(dyn.bitsPerWeight(spec, params, rows, cols), bits4 + index);
    // The same bits as uniform int4 (no room for the index): the widths mix, the error is reported beside.
    std::vector<float> same(weights.size());
    dyn.quantize({weights.data(), rows, cols, info->name}, spec, {{"widths", "3,4,8"}, {"target", bits4}}, same.data(), {});
    RecordProperty("sse_dynbits_at_int4_bits", std::to_string(sse(same, weights)));
    RecordProperty("sse_int4_g32", std::to_string(sse(int4, weights)));
    EXPECT_THROW(dyn.quantize({weights.data(), rows, cols, info->name}, spec, {{"widths", "3,4,8"}, {"target", 2.5}},
                              same.data(), {}),
                 Error);
    QuantSpec mx = spec;
    mx.format = FormatId::MxFp4;
    EXPECT_THROW(dyn.quantize({weights.data(), rows, cols, info->name}, mx, params, same.data(), {}), Error);
}
