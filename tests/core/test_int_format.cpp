// SPDX-License-Identifier: MIT
// INT-k definitions checked against closed forms and a float64 re-implementation written here.
#include "formats/format_traits.h"
#include "quant/fake_quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

using namespace qs::core;

namespace {

FormatId intFormat(int bits) { return static_cast<FormatId>(bits - 2); }

// Independent float64 definition of asymmetric min/max INT-k over one group.
std::vector<double> refAsym(const std::vector<float>& x, int bits) {
    double lo = 0, hi = 0;
    for (float v : x) lo = std::min<double>(lo, v), hi = std::max<double>(hi, v);
    if (lo == 0 && hi == 0) lo = -1, hi = 1;
    const double maxq = std::pow(2.0, bits) - 1, scale = (hi - lo) / maxq, zero = std::nearbyint(-lo / scale);
    std::vector<double> out;
    for (float v : x) {
        const double q = std::clamp(std::nearbyint(v / scale) + zero, 0.0, maxq);
        out.push_back(scale * (q - zero));
    }
    return out;
}

} // namespace

TEST(IntFormat, TableHasIntTwoToEightWithNames) {
    for (int k = 2; k <= 8; ++k) {
        const FormatTraits* f = findFormat("int" + std::to_string(k));
        ASSERT_NE(f, nullptr) << k;
        EXPECT_EQ(f->elementBits, k);
        EXPECT_EQ(&formatTraits(f->id), f);
    }
    EXPECT_EQ(findFormat("int9"), nullptr);
}

TEST(IntFormat, AsymmetricUsesAtMostTwoToTheKLevelsAndMatchesFloat64Definition) {
    std::mt19937 rng(7);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (int k = 2; k <= 8; ++k) {
        std::vector<float> x(64);
        for (auto& v : x) v = dist(rng);
        std::vector<float> out(x.size());
        fakeQuantize(x.data(), 1, 64, {intFormat(k), Granularity::Channel, 0, false}, out.data());
        const auto ref = refAsym(x, k);
        std::set<float> levels(out.begin(), out.end());
        EXPECT_LE(levels.size(), std::size_t(1) << k);
        for (std::size_t i = 0; i < x.size(); ++i)
            EXPECT_NEAR(out[i], ref[i], 1e-6 * std::fabs(ref[i]) + 1e-7) << "k=" << k << " i=" << i;
    }
}

TEST(IntFormat, SymmetricKeepsZeroAndSignSymmetry) {
    std::vector<float> x{-3.0f, -1.0f, 0.0f, 0.5f, 1.0f, 3.0f};
    std::vector<float> out(x.size());
    fakeQuantize(x.data(), 1, 6, {FormatId::Int4, Granularity::Channel, 0, true}, out.data());
    // scale = 3/7: +-3 exact, 0 exact, 1 -> rhe(2.333) = 2 -> 6/7, 0.5 -> rhe(1.1667) = 1 -> 3/7.
    const float s = 3.0f / 7.0f;
    EXPECT_FLOAT_EQ(out[0], -3.0f);
    EXPECT_FLOAT_EQ(out[5], 3.0f);
    EXPECT_EQ(out[2], 0.0f);
    EXPECT_FLOAT_EQ(out[4], 2 * s);
    EXPECT_FLOAT_EQ(out[1], -2 * s);
    EXPECT_FLOAT_EQ(out[3], 1 * s);
}

TEST(IntFormat, TiesRoundToEven) {
    // amax 7 with int4 sym: scale 1, so x = 2.5 -> 2 and 3.5 -> 4, -2.5 -> -2 (ties to even, not away).
    std::vector<float> x{7.0f, 2.5f, 3.5f, -2.5f, 0.5f, 1.5f};
    std::vector<float> out(x.size());
    fakeQuantize(x.data(), 1, 6, {FormatId::Int4, Granularity::Channel, 0, true}, out.data());
    EXPECT_EQ(out[1], 2.0f);
    EXPECT_EQ(out[2], 4.0f);
    EXPECT_EQ(out[3], -2.0f);
    EXPECT_EQ(out[4], 0.0f);
    EXPECT_EQ(out[5], 2.0f);
}

TEST(IntFormat, UniformInputErrorIsDeltaSquaredOverTwelve) {
    // A fine uniform input on [-1, 1]: the rounding error is uniform on [-D/2, D/2], MSE = D^2/12.
    const int n = 1 << 20;
    std::vector<float> x(n), out(n);
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (auto& v : x) v = u(rng);
    x[0] = -1.0f, x[1] = 1.0f;
    for (int k : {4, 6, 8}) {
        fakeQuantize(x.data(), 1, n, {intFormat(k), Granularity::Tensor, 0, true}, out.data());
        double mse = 0;
        for (int i = 0; i < n; ++i) mse += (double(x[i]) - out[i]) * (double(x[i]) - out[i]);
        mse /= n;
        const double delta = 1.0 / ((1 << (k - 1)) - 1);
        EXPECT_NEAR(mse / (delta * delta / 12.0), 1.0, 0.02) << "k=" << k;
    }
}

TEST(IntFormat, GranularitiesUseTheirOwnRanges) {
    // Row 0 is small, row 1 large: per-channel scales keep row 0 accurate, per-tensor does not.
    std::vector<float> x{0.01f, -0.02f, 0.03f, 0.015f, 10.0f, -5.0f, 7.0f, 3.0f};
    std::vector<float> pc(8), pt(8), grp(8);
    fakeQuantize(x.data(), 2, 4, {FormatId::Int4, Granularity::Channel, 0, true}, pc.data());
    fakeQuantize(x.data(), 2, 4, {FormatId::Int4, Granularity::Tensor, 0, true}, pt.data());
    fakeQuantize(x.data(), 2, 4, {FormatId::Int4, Granularity::Group, 2, true}, grp.data());
    EXPECT_NEAR(pc[2], 0.03f, 1e-7);
    EXPECT_EQ(pt[0], 0.0f); // 0.01 is far below half a step of 10/7
    // Group of 2 on row 1: [7, 3] has its own scale 7/7 = 1 -> both exact; per channel (scale 10/7) not.
    EXPECT_EQ(grp[6], 7.0f);
    EXPECT_EQ(grp[7], 3.0f);
    EXPECT_NE(pc[7], 3.0f);
}

TEST(IntFormat, AllZeroGroupsStayZeroAndNeverNaN) {
    std::vector<float> x(64, 0.0f), out(64, 1.0f);
    for (bool sym : {true, false}) {
        fakeQuantize(x.data(), 2, 32, {FormatId::Int4, Granularity::Group, 8, sym}, out.data());
        for (float v : out) EXPECT_EQ(v, 0.0f);
    }
}

TEST(IntFormat, ShortLastGroupUsesItsOwnElements) {
    // 5 columns in groups of 4: the last group is the single value 0.3 (asym: range [0, 0.3]).
    std::vector<float> x{1.0f, 2.0f, 3.0f, 4.0f, 0.3f}, out(5);
    fakeQuantize(x.data(), 1, 5, {FormatId::Int4, Granularity::Group, 4, false}, out.data());
    EXPECT_FLOAT_EQ(out[4], 0.3f);
}
