// SPDX-License-Identifier: MIT
// The fast fake-quantization paths against their scalar twins: vector lanes against one value at a
// time, batched runs against run by run, the symmetric amax-only fit against the full range, and the
// same bits at any thread count.
#include "formats/code_formats.h"
#include "formats/format_traits.h"
#include "quant/fake_quant.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

using namespace qs::core;

namespace {

// Normal data with ties, zeros, denormals, huge values, infinities and NaN mixed in; n is odd so
// every kernel runs its scalar tail too.
std::vector<float> trickyInput(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> x(n);
    for (std::size_t i = 0; i < n; ++i) {
        switch (i % 11) {
        case 3: x[i] = std::round(d(rng) * 8.0f) / 2.0f; break; // ties of coarse grids
        case 5: x[i] = d(rng) * 1e-41f; break;
        case 7: x[i] = 0.0f; break;
        default: x[i] = d(rng);
        }
    }
    x[n / 3] = std::numeric_limits<float>::infinity();
    x[n / 2] = -std::numeric_limits<float>::quiet_NaN();
    x[n - 2] = -3e38f;
    return x;
}

bool sameBits(float a, float b) { return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b); }

} // namespace

TEST(FakeQuantKernels, VectorLanesEqualTheScalarTwinForEveryFormat) {
    // apply() on one value runs the scalar code; on a whole run, the vector code.
    const auto x = trickyInput(203, 1);
    for (const auto& f : formatTable())
        for (float scale : {1.0f, 0.37f, 0.0625f, 3.1e-3f, 2.5e-39f}) {
            for (bool sym : {true, false}) {
                if (!sym && !f.allowsAsymmetric) continue;
                const ElementOptions o{sym, false};
                const ScaleParams p{scale, sym ? 0.0f : 7.0f};
                std::vector<float> whole(x.size()), one(x.size());
                f.apply(f, x.data(), whole.data(), x.size(), p, o);
                for (std::size_t i = 0; i < x.size(); ++i) f.apply(f, &x[i], &one[i], 1, p, o);
                for (std::size_t i = 0; i < x.size(); ++i)
                    ASSERT_TRUE(sameBits(whole[i], one[i]))
                        << f.name << " scale " << scale << " x=" << x[i] << ": " << whole[i] << " vs " << one[i];
            }
        }
}

TEST(FakeQuantKernels, BatchedRunsEqualRunByRun) {
    const auto x = trickyInput(16 * 13 + 5, 2);
    for (const auto& f : formatTable()) {
        if (!f.applyRuns) continue;
        for (std::size_t run : {std::size_t{16}, std::size_t{32}, std::size_t{12}}) {
            const std::size_t runs = (x.size() + run - 1) / run;
            std::vector<ScaleParams> params(runs);
            for (std::size_t k = 0; k < runs; ++k) params[k] = {k % 5 == 4 ? 0.0f : 0.05f * static_cast<float>(k + 1), 0.0f};
            std::vector<float> batched(x.size()), single(x.size());
            f.applyRuns(f, x.data(), batched.data(), x.size(), run, params.data(), {});
            for (std::size_t k = 0; k < runs; ++k) {
                const std::size_t c = k * run, n = std::min(run, x.size() - c);
                f.apply(f, x.data() + c, single.data() + c, n, params[k], {});
            }
            for (std::size_t i = 0; i < x.size(); ++i) ASSERT_TRUE(sameBits(batched[i], single[i])) << f.name << " run " << run << " i=" << i;
        }
    }
}

TEST(FakeQuantKernels, SymmetricFitsSeeTheAmaxOfTheFullRange) {
    // fitRun gives symmetric fits only the run's amax; they must fit exactly as from rangeOf.
    const auto x = trickyInput(101, 3);
    for (const auto& f : formatTable())
        for (std::size_t c = 0; c + 32 <= x.size(); c += 7) {
            const QuantSpec spec{f.id, Granularity::Group, 32, true};
            const RangeStats tensor = rangeOf(x.data(), x.size());
            const ScaleParams fast = fitRun(f, spec, x.data() + c, 32, tensor, nullptr);
            const ScaleParams ref = f.fit(f, rangeOf(x.data() + c, 32), tensor, {true, false});
            EXPECT_TRUE(sameBits(fast.scale, ref.scale) && sameBits(fast.zero, ref.zero)) << f.name << " at " << c;
        }
}

TEST(FakeQuantKernels, Nf4PicksTheNearestCodeAndTiesGoUp) {
    // Exact midpoints between codes go to the upper code; one step below them to the lower one.
    const auto cb = nf4Codebook();
    std::vector<float> x{1.0f}; // amax 1: scale 1, so t = x exactly
    for (std::size_t i = 0; i + 1 < cb.size(); ++i) {
        const float mid = 0.5f * (cb[i] + cb[i + 1]);
        x.push_back(mid);
        x.push_back(std::nextafter(mid, -2.0f));
    }
    std::vector<float> out(x.size());
    fakeQuantize(x.data(), 1, static_cast<std::int64_t>(x.size()), {FormatId::Nf4, Granularity::Channel, 0, true}, out.data());
    for (std::size_t i = 0; i + 1 < cb.size(); ++i) {
        EXPECT_EQ(out[1 + 2 * i], cb[i + 1]) << "midpoint " << i;
        EXPECT_EQ(out[2 + 2 * i], cb[i]) << "below midpoint " << i;
    }
}

TEST(FakeQuantKernels, SameBitsAtOneAndTwoThreads) {
    const std::int64_t rows = 37, cols = 200;
    const auto x = trickyInput(static_cast<std::size_t>(rows * cols), 4);
    const int saved = omp_get_max_threads();
    for (const auto& f : formatTable()) {
        const QuantSpec spec{f.id, f.fixedBlock ? Granularity::Block : Granularity::Group, 32, true};
        std::vector<float> one(x.size()), two(x.size());
        omp_set_num_threads(1);
        fakeQuantize(x.data(), rows, cols, spec, one.data());
        omp_set_num_threads(2);
        fakeQuantize(x.data(), rows, cols, spec, two.data());
        EXPECT_EQ(std::memcmp(one.data(), two.data(), x.size() * sizeof(float)), 0) << f.name;
    }
    omp_set_num_threads(saved);
}
