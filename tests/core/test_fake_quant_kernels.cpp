// SPDX-License-Identifier: MIT
// The fast fake-quantization paths against their scalar twins: vector lanes against one value at a
// time, batched runs against run by run, the symmetric amax-only fit against the full range, and the
// same bits at any thread count.
#include "formats/code_formats.h"
#include "formats/format_traits.h"
#include "quant/fake_quant.h"
#include "quant/run_absmax.h"
#include "tensor/stream_copy.h"
#include "tensor/avx512.h"

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

TEST(FakeQuantKernels, BatchedRunsEqualValueByValue) {
    // Runs of 16 and 32 (NV and MX blocks) take the AVX-512 kernels where the processor has them, and
    // the AVX2 ones when those are held back; both against each value applied alone (the scalar twin),
    // with scales that are powers of two (a reciprocal's product) and zero (a run of zeros).
    const auto x = trickyInput(16 * 13 + 5, 2);
    for (bool avx512 : {true, false}) {
        const bool saved = allowAvx512(avx512);
        for (const auto& f : formatTable()) {
            if (!f.applyRuns) continue;
            for (std::size_t run : {std::size_t{16}, std::size_t{32}, std::size_t{12}}) {
                const std::size_t runs = (x.size() + run - 1) / run;
                std::vector<ScaleParams> params(runs);
                for (std::size_t k = 0; k < runs; ++k)
                    params[k] = {k % 5 == 4   ? 0.0f
                                 : k % 5 == 2 ? std::ldexp(1.0f, 3 - static_cast<int>(k % 7))
                                              : 0.05f * static_cast<float>(k + 1),
                                 0.0f};
                std::vector<float> batched(x.size()), single(x.size());
                f.applyRuns(f, x.data(), batched.data(), x.size(), run, params.data(), {});
                for (std::size_t i = 0; i < x.size(); ++i) f.apply(f, &x[i], &single[i], 1, params[i / run], {});
                for (std::size_t i = 0; i < x.size(); ++i)
                    ASSERT_TRUE(sameBits(batched[i], single[i])) << f.name << " run " << run << " avx512 " << avx512 << " i=" << i
                                                                 << ": " << batched[i] << " vs " << single[i];
            }
        }
        allowAvx512(saved);
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

namespace {

// Inputs for the log-domain formats: random magnitudes over [2^-12, 2], every sign, plus the floats
// around each half-way point `halves` (in t = |x| / scale with scale 1, so t is x).
std::vector<float> logDomainInput(const std::vector<double>& halves, double shift) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> e(-12.0f, 1.0f);
    std::vector<float> x;
    for (int i = 0; i < 997; ++i) x.push_back((i % 2 ? -1.0f : 1.0f) * std::exp2(e(rng)));
    for (double h : halves) {
        float y = static_cast<float>(h);
        for (int k = 0; k < 3; ++k) y = std::nextafter(y, 0.0f);
        for (int k = 0; k < 7; ++k, y = std::nextafter(y, 2.0f)) x.push_back(static_cast<float>(y - shift));
    }
    return x;
}

} // namespace

TEST(FakeQuantKernels, LogFormatsRoundExactlyInTheLogDomain) {
    // Reference: the nearest level in the log domain from a double-precision log2, whose error is far
    // below the gap between a float and a half-way point (ties: exact powers of two, half to even).
    const float scale = 1.0f;
    {
        const FormatTraits& f = formatTraits(FormatId::Log2);
        const int deepest = (1 << (f.elementBits - 1)) - 2;
        std::vector<double> halves;
        for (int j = 0; j <= deepest + 1; ++j) halves.push_back(std::exp2(-(j + 0.5)));
        const auto x = logDomainInput(halves, 0.0);
        std::vector<float> out(x.size());
        f.apply(f, x.data(), out.data(), x.size(), {scale, 0.0f}, {true, false});
        for (std::size_t i = 0; i < x.size(); ++i) {
            const double t = std::min(std::fabs(static_cast<double>(x[i])) / scale, 1.0);
            const double j = std::nearbyint(-std::log2(t));
            const double want = j > deepest ? 0.0 : std::exp2(-j) * scale;
            ASSERT_EQ(static_cast<double>(out[i]), std::copysign(want, x[i])) << "log2 x=" << x[i];
        }
    }
    {
        const FormatTraits& f = formatTraits(FormatId::Sulq);
        const int top = (1 << (f.elementBits - 1)) - 1;
        const double shift = 1.0 / 256.0, stepTimesTop = 8.0; // the last level's log2(t + eta) is -8
        const auto levels = sulqLevels(f.elementBits);
        std::vector<double> halves;
        for (int q = 0; q < top; ++q) halves.push_back(std::exp2(-(q + 0.5) * stepTimesTop / top));
        auto x = logDomainInput(halves, shift);
        x.push_back(0.0625f - 0.00390625f); // t + eta = 2^-4 exactly: q = 3.5, which goes to 4
        std::vector<float> out(x.size());
        f.apply(f, x.data(), out.data(), x.size(), {scale, 0.0f}, {true, false});
        for (std::size_t i = 0; i < x.size(); ++i) {
            const float y = std::min(std::fabs(x[i]) / scale, 1.0f) + static_cast<float>(shift);
            const double q = std::clamp(std::nearbyint(-std::log2(static_cast<double>(y)) * top / stepTimesTop), 0.0, double(top));
            const float want = levels[static_cast<std::size_t>(q)] * scale;
            ASSERT_EQ(out[i], std::copysign(want, x[i])) << "sulq x=" << x[i] << " y=" << y;
        }
        EXPECT_EQ(out.back(), levels[4]);
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

TEST(FakeQuantKernels, RunAbsMaxEqualsFiniteAbsMaxRunByRun) {
    const auto x = trickyInput(32 * 41 + 13, 5);
    for (std::size_t run : {1, 8, 12, 16, 24, 32, 64, 1000})
        for (std::size_t n : {x.size(), std::size_t{8 * 32}, std::size_t{7}}) {
            const std::size_t runs = (n + run - 1) / run;
            std::vector<float> batched(runs, -1.0f);
            runAbsMax(x.data(), n, run, batched.data());
            for (std::size_t k = 0; k < runs; ++k)
                ASSERT_TRUE(sameBits(batched[k], finiteAbsMax(x.data() + k * run, std::min(run, n - k * run))))
                    << "run " << run << " n " << n << " k " << k;
        }
}

TEST(FakeQuantKernels, RunRangeEqualsRangeOfRunByRun) {
    // Runs with an infinity or only NaN take the scalar path inside runRange: they must agree too.
    auto x = trickyInput(32 * 41 + 13, 8);
    std::fill(x.begin() + 64, x.begin() + 96, std::numeric_limits<float>::quiet_NaN()); // a run of only NaN
    x[100] = -std::numeric_limits<float>::infinity();
    for (std::size_t run : {1, 8, 12, 16, 24, 32, 64, 1000})
        for (std::size_t n : {x.size(), std::size_t{8 * 32}, std::size_t{7}}) {
            const std::size_t runs = (n + run - 1) / run;
            std::vector<RangeStats> batched(runs, RangeStats{-1.0f, -1.0f, -1.0f});
            runRange(x.data(), n, run, batched.data());
            for (std::size_t k = 0; k < runs; ++k) {
                const RangeStats one = rangeOf(x.data() + k * run, std::min(run, n - k * run));
                ASSERT_TRUE(batched[k].min == one.min && batched[k].max == one.max && batched[k].amax == one.amax)
                    << "run " << run << " n " << n << " k " << k << ": [" << batched[k].min << ", " << batched[k].max
                    << "] vs [" << one.min << ", " << one.max << "]";
            }
        }
}

TEST(FakeQuantKernels, BatchedFitsEqualTheFitOfEachRun) {
    // Amaxes over every binade: zero, float32 subnormals, ones that give E8M0 scales below 2^-126 or
    // clamp at 2^127, and the extremes.
    std::mt19937 rng(6);
    std::vector<float> amax{0.0f, 1e-45f, 1e-40f, 1.17e-38f, 1e-30f, 1.0f, 6.0f, 448.0f, 3.4e38f};
    for (int e = -149; e <= 127; ++e) amax.push_back(std::ldexp(std::uniform_real_distribution<float>(1.0f, 2.0f)(rng), e));
    const std::size_t count = amax.size();
    for (const auto& f : formatTable()) {
        if (!f.fitAmaxRuns) continue;
        for (float tensorAmax : {0.0f, 1e-38f, 0.02f, 3.0f, 3.4e38f}) {
            const RangeStats tensor{-tensorAmax, tensorAmax, tensorAmax};
            for (bool fullRange : {false, true}) {
                std::vector<ScaleParams> batched(count);
                f.fitAmaxRuns(f, amax.data(), count, tensor, {true, fullRange}, batched.data());
                for (std::size_t k = 0; k < count; ++k) {
                    const ScaleParams one = f.fit(f, {-amax[k], amax[k], amax[k]}, tensor, {true, fullRange});
                    ASSERT_TRUE(sameBits(batched[k].scale, one.scale) && sameBits(batched[k].zero, one.zero))
                        << f.name << " amax " << amax[k] << " tensor " << tensorAmax << ": " << batched[k].scale << " vs " << one.scale;
                }
            }
        }
    }
}

TEST(FakeQuantKernels, BatchedRangeFitsEqualTheFitOfEachRun) {
    // Ranges on both sides of zero, on one side only, all zero, tiny (a scale that underflows), and
    // wider than FLT_MAX (the fit's overflow branch); 3 + 8k of them, so the scalar tail runs too.
    std::mt19937 rng(9);
    std::vector<RangeStats> range{{0.0f, 0.0f, 0.0f}, {-0.0f, 0.0f, 0.0f}, {-3e38f, 3e38f, 3e38f}, {1e-45f, 1e-45f, 1e-45f},
                                  {-1e-45f, 0.0f, 1e-45f}, {2.0f, 5.0f, 5.0f}, {-7.0f, -1.0f, 7.0f}, {-3.4e38f, -1.0f, 3.4e38f}};
    for (int e = -149; e <= 127; ++e) {
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        const float a = std::ldexp(u(rng), e), b = std::ldexp(u(rng), e - 3 + static_cast<int>(rng() % 6));
        range.push_back({std::min(a, b), std::max(a, b), std::max(std::fabs(a), std::fabs(b))});
    }
    range.resize(3 + range.size() / 8 * 8);
    for (const auto& f : formatTable()) {
        if (!f.fitRangeRuns) continue;
        for (bool sym : {false, true}) {
            const ElementOptions o{sym, false};
            std::vector<ScaleParams> batched(range.size());
            f.fitRangeRuns(f, range.data(), range.size(), {}, o, batched.data());
            for (std::size_t k = 0; k < range.size(); ++k) {
                const ScaleParams one = f.fit(f, range[k], {}, o);
                ASSERT_TRUE(sameBits(batched[k].scale, one.scale) && sameBits(batched[k].zero, one.zero))
                    << f.name << " [" << range[k].min << ", " << range[k].max << "]: " << batched[k].scale << ", "
                    << batched[k].zero << " vs " << one.scale << ", " << one.zero;
            }
        }
    }
}

TEST(FakeQuantKernels, WholeTensorEqualsFittingAndApplyingEachRun) {
    // fakeQuantize's batched amaxes, batched fits and (for two-level formats) amaxes kept from the tensor
    // pass against the plain definition: each run fitted from rangeOf and applied alone. Rows of 600
    // values are applied in pieces (a row's runs of 16, 24 and 32 grouped, its whole-row run cut) while
    // the next row is fetched: the pieces must not show.
    const std::int64_t rows = 9, cols = 600;
    const auto x = trickyInput(static_cast<std::size_t>(rows * cols), 7);
    const RangeStats tensor = rangeOf(x.data(), x.size());
    for (const auto& f : formatTable())
        for (int group : {16, 24, 32, 0}) // 0: per channel
            for (bool sym : {true, false}) {
                if ((!sym && !f.allowsAsymmetric) || (group == 0 && f.fixedBlock)) continue;
                const Granularity g = f.fixedBlock ? Granularity::Block : group == 0 ? Granularity::Channel : Granularity::Group;
                const QuantSpec spec{f.id, g, group, sym};
                const auto run = static_cast<std::size_t>(spec.runLength(cols));
                std::vector<float> whole(x.size()), ref(x.size());
                fakeQuantize(x.data(), rows, cols, spec, whole.data());
                for (std::int64_t r = 0; r < rows; ++r)
                    for (std::size_t c = 0; c < static_cast<std::size_t>(cols); c += run) {
                        const float* in = x.data() + r * cols + c;
                        const std::size_t n = std::min(run, static_cast<std::size_t>(cols) - c);
                        const ScaleParams p = f.fit(f, rangeOf(in, n), tensor, {sym, false});
                        f.apply(f, in, ref.data() + r * cols + c, n, p, {sym, false});
                    }
                for (std::size_t i = 0; i < x.size(); ++i)
                    ASSERT_TRUE(sameBits(whole[i], ref[i])) << spec.label() << " i=" << i << ": " << whole[i] << " vs " << ref[i];
            }
    // One scale for the whole tensor (fitted before any row is applied; rows still go in pieces
    // while the next is fetched): the tensor's fit applied to all its values in one call.
    for (const auto& f : formatTable())
        for (bool sym : {true, false}) {
            if ((!sym && !f.allowsAsymmetric) || f.fixedBlock) continue;
            const QuantSpec spec{f.id, Granularity::Tensor, 0, sym};
            const RangeStats range = sym ? RangeStats{-tensor.amax, tensor.amax, tensor.amax} : tensor;
            const ScaleParams p = f.fit(f, range, tensor, {sym, false});
            std::vector<float> whole(x.size()), ref(x.size());
            fakeQuantize(x.data(), rows, cols, spec, whole.data());
            f.apply(f, x.data(), ref.data(), x.size(), p, {sym, false});
            for (std::size_t i = 0; i < x.size(); ++i)
                ASSERT_TRUE(sameBits(whole[i], ref[i])) << spec.label() << " i=" << i << ": " << whole[i] << " vs " << ref[i];
        }
}

TEST(FakeQuantKernels, StreamedOutputEqualsRowByRow) {
    // A tensor of kStreamBytes or more goes to memory through StreamWriter: the same bits as its rows
    // fake-quantized one call each (small outputs, regular stores). 2051 columns put the rows at every
    // alignment; per-row fits make the two the same definition.
    const std::int64_t cols = 2051, rows = static_cast<std::int64_t>(kStreamBytes / sizeof(float)) / cols + 1;
    const auto x = trickyInput(static_cast<std::size_t>(rows * cols), 10);
    for (const QuantSpec& spec : {QuantSpec{FormatId::Int4, Granularity::Group, 32, false},
                                  QuantSpec{FormatId::MxFp4, Granularity::Block, 32, true},
                                  QuantSpec{FormatId::Nf4, Granularity::Group, 64, true},
                                  QuantSpec{FormatId::Int8, Granularity::Channel, 0, true}}) {
        std::vector<float> whole(x.size(), 7.0f), rowByRow(x.size());
        fakeQuantize(x.data(), rows, cols, spec, whole.data());
        for (std::int64_t r = 0; r < rows; ++r)
            fakeQuantize(x.data() + r * cols, 1, cols, spec, rowByRow.data() + r * cols);
        EXPECT_EQ(std::memcmp(whole.data(), rowByRow.data(), x.size() * sizeof(float)), 0) << spec.label();
    }
}
