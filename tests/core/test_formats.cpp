// SPDX-License-Identifier: MIT
// The format table: MX/NV against the fixture references, bit accounting, clipping rules and a
// property test over every format and granularity.
#include "base/error.h"
#include "fixture_paths.h"
#include "formats/code_formats.h"
#include "formats/format_traits.h"
#include "formats/minifloat.h"
#include "io/npy.h"
#include "model/model.h"
#include "quant/fake_quant.h"
#include "tensor/half.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>

using namespace qs::core;

namespace {

QuantSpec specFor(std::string_view name, Granularity g = Granularity::Block, int group = 32, bool sym = true) {
    const FormatTraits* f = findFormat(name);
    EXPECT_NE(f, nullptr) << name;
    return QuantSpec{f->id, g, group, sym};
}

std::size_t mismatchesAgainst(const QuantSpec& spec, const char* refFile) {
    auto model = openModel(qs::test::tinyLlama());
    const WeightInfo* info = model->find("model.layers.1.mlp.down_proj.weight");
    auto w = model->weightAsOutIn(*info);
    std::vector<float> out(w.size());
    fakeQuantize(w.data(), 192, 512, spec, out.data());
    const Tensor ref = readNpy(qs::test::tinyLlama() / refFile);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < out.size(); ++i) bad += out[i] != ref.data<float>()[i];
    return bad;
}

} // namespace

TEST(Formats, Mxfp4DownProjMatchesReferenceElementForElement) {
    EXPECT_EQ(mismatchesAgainst(specFor("mxfp4"), "ref_mxfp4_down1.npy"), 0u);
}

TEST(Formats, Nvfp4DownProjMatchesReferenceElementForElement) {
    EXPECT_EQ(mismatchesAgainst(specFor("nvfp4"), "ref_nvfp4_down1.npy"), 0u);
}

TEST(Formats, EveryNameIsUniqueAndFindable) {
    const char* names[] = {"int2", "int3", "int4", "int5", "int6", "int7", "int8", "fp8_e4m3", "fp8_e5m2",
                           "fp6_e3m2", "fp6_e2m3", "fp4_e2m1", "mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2",
                           "mxfp6_e2m3", "mxfp4", "mxint8", "nvfp4", "nvint4", "nf4", "log2", "sulq", "bf16", "fp16"};
    for (const char* n : names) {
        const FormatTraits* f = findFormat(n);
        ASSERT_NE(f, nullptr) << n;
        EXPECT_EQ(f->name, n);
        EXPECT_FALSE(f->explanation.empty());
    }
    EXPECT_EQ(formatTable().size(), std::size(names));
}

TEST(Formats, BitAccountingOfEachFormat) {
    const std::int64_t rows = 64, cols = 4096, n = rows * cols;
    auto bpw = [&](const char* name, Granularity g = Granularity::Block, int group = 32, bool sym = true) {
        return specFor(name, g, group, sym).bitsPerWeight(rows, cols);
    };
    EXPECT_DOUBLE_EQ(bpw("mxfp4"), 4.25);          // 4 + 8/32
    EXPECT_DOUBLE_EQ(bpw("mxfp6_e2m3"), 6.25);
    EXPECT_DOUBLE_EQ(bpw("mxfp8_e4m3"), 8.25);
    EXPECT_DOUBLE_EQ(bpw("mxint8"), 8.25);
    EXPECT_DOUBLE_EQ(bpw("nvfp4"), 4.5 + 32.0 / n); // 4 + 8/16 + one fp32 tensor scale
    EXPECT_DOUBLE_EQ(bpw("nvint4"), 4.5 + 32.0 / n);
    EXPECT_DOUBLE_EQ(bpw("nf4", Granularity::Group, 64), 4.0 + 16.0 / 64);
    EXPECT_DOUBLE_EQ(bpw("fp8_e4m3", Granularity::Channel), 8.0 + 16.0 / cols);
    EXPECT_DOUBLE_EQ(bpw("fp8_e4m3", Granularity::Tensor), 8.0 + 32.0 / n);
    EXPECT_DOUBLE_EQ(bpw("int4", Granularity::Group, 128, false), 4.0 + (16.0 + 4.0) / 128);
    EXPECT_DOUBLE_EQ(bpw("bf16", Granularity::Tensor), 16.0);
    EXPECT_DOUBLE_EQ(bpw("fp16", Granularity::Channel), 16.0);
    EXPECT_DOUBLE_EQ(bpw("log2", Granularity::Channel), 4.0 + 16.0 / cols);
    // MX ignores a requested group: its block is part of the format.
    EXPECT_DOUBLE_EQ(bpw("mxfp4", Granularity::Group, 128), 4.25);
}

TEST(Formats, SpecsWithoutARunLengthAreErrorsNotHangs) {
    // Specs built in code skip fromJson's checks: a run of 0 values would never advance.
    const std::vector<float> x(64, 1.0f);
    std::vector<float> y(64);
    for (const QuantSpec& bad : {QuantSpec{FormatId::Int4, Granularity::Block, 32, true},
                                 QuantSpec{FormatId::Nf4, Granularity::Group, 0, true}}) {
        EXPECT_THROW(fakeQuantize(x.data(), 2, 32, bad, y.data()), Error);
        EXPECT_THROW(bad.bitsPerWeight(2, 32), Error);
    }
}

TEST(Formats, MxSharedScaleUsesTheExactExponent) {
    // amax just below 8 = 2^3: floor(log2) = 2, so X = 2^(2-2) = 1 and 7.99 saturates to 6;
    // a rounded log2() would say 3 and pick X = 2.
    std::vector<float> x(32, 0.0f), out(32);
    x[0] = std::nextafter(8.0f, 0.0f);
    x[1] = 0.75f;
    fakeQuantize(x.data(), 1, 32, specFor("mxfp4"), out.data());
    EXPECT_EQ(out[0], 6.0f);
    EXPECT_EQ(out[1], 1.0f); // 0.75 is a tie between 0.5 and 1: even mantissa -> 1
    // MXINT8: X = 2^floor(log2(amax)), elements int8 * 2^-6 -> amax 3: X = 2, step 2/64.
    std::vector<float> y(32, 0.0f), outY(32);
    y[0] = 3.0f, y[1] = -3.99f, y[2] = 0.01f;
    fakeQuantize(y.data(), 1, 32, specFor("mxint8"), outY.data());
    EXPECT_EQ(outY[0], 3.0f);
    EXPECT_EQ(outY[1], -4.0f);        // -127.68 -> -128 (the code range is two's complement)
    EXPECT_EQ(outY[2], 0.0f);         // 0.32 steps -> 0
}

TEST(Formats, NvBlockScaleIsE4M3OfTheRatio) {
    // Tensor amax 2688 -> s_g = 1; a block with amax 6 * 0.3 = 1.8 gets s_b = E4M3(0.3) = 0.3125 (nearest).
    std::vector<float> x(32, 0.0f), out(32);
    x[0] = 2688.0f;
    x[16] = 1.8f;
    x[17] = 0.3125f;
    fakeQuantize(x.data(), 1, 32, specFor("nvfp4"), out.data());
    EXPECT_EQ(roundMiniFloatRef(0.3f, minifloat::kE4M3), 0.3125f);
    EXPECT_EQ(out[0], 2688.0f);
    EXPECT_EQ(out[17], 0.3125f);        // 1.0 * se
    EXPECT_EQ(out[16], 6.0f * 0.3125f); // 1.8 / 0.3125 = 5.76 -> 6
}

TEST(Formats, MseClippingBeatsMinMaxOnLaplaceData) {
    std::mt19937 rng(9);
    std::exponential_distribution<float> e(1.0f);
    std::bernoulli_distribution sign(0.5);
    std::vector<float> x(4096);
    for (auto& v : x) v = sign(rng) ? e(rng) : -e(rng);
    auto mse = [&](QuantSpec s) {
        std::vector<float> out(x.size());
        fakeQuantize(x.data(), 1, static_cast<std::int64_t>(x.size()), s, out.data());
        double err = 0;
        for (std::size_t i = 0; i < x.size(); ++i) err += (x[i] - out[i]) * (x[i] - out[i]);
        return err / x.size();
    };
    for (const char* name : {"int3", "int4", "fp4_e2m1"}) {
        QuantSpec minmax = specFor(name, Granularity::Channel);
        QuantSpec clipped = minmax;
        clipped.scaleRule = ScaleRule::Mse;
        QuantSpec pct = minmax;
        pct.scaleRule = ScaleRule::Percentile;
        pct.percentile = 99.0;
        EXPECT_LT(mse(clipped), 0.9 * mse(minmax)) << name;
        EXPECT_LT(mse(pct), mse(minmax)) << name;
    }
}

TEST(Formats, Nf4UsesTheQloraCodeBook) {
    auto cb = nf4Codebook();
    ASSERT_EQ(cb.size(), 16u);
    EXPECT_EQ(cb[7], 0.0f);
    EXPECT_EQ(cb.front(), -1.0f);
    EXPECT_EQ(cb.back(), 1.0f);
    std::vector<float> x{2.0f, 1.0f, -0.5f, 0.1f}, out(4);
    fakeQuantize(x.data(), 1, 4, specFor("nf4", Granularity::Channel), out.data());
    EXPECT_EQ(out[0], 2.0f);
    EXPECT_FLOAT_EQ(out[1], 2.0f * 0.44070982933044434f); // 0.5 -> nearest code 0.4407 (not 0.5626)
    EXPECT_FLOAT_EQ(out[2], 2.0f * -0.28444138169288635f); // -0.25 -> -0.2844
}

TEST(Formats, FullRangeInt8MatchesTorchStyleScale) {
    // amax 127.5 -> scale exactly 1: -127.5 is a tie that goes to the even code -128; +127.5 -> 128 clamps to 127.
    std::vector<float> x{-127.5f, 127.5f, 3.0f}, out(3);
    QuantSpec s = specFor("int8", Granularity::Channel);
    s.fullRange = true;
    fakeQuantize(x.data(), 1, 3, s, out.data());
    EXPECT_EQ(out[0], -128.0f);
    EXPECT_EQ(out[1], 127.0f);
    EXPECT_EQ(out[2], 3.0f);
    s.fullRange = false; // restricted: scale 127.5/127, codes -127..127
    fakeQuantize(x.data(), 1, 3, s, out.data());
    EXPECT_EQ(out[0], -127.5f);
}

TEST(Formats, PropertyNoNaNFromFiniteInputAndNothingBeyondRange) {
    std::mt19937 rng(1);
    std::normal_distribution<float> d(0.0f, 1.0f);
    const std::int64_t rows = 4, cols = 96;
    std::vector<std::vector<float>> inputs;
    for (int kind = 0; kind < 6; ++kind) {
        std::vector<float> x(rows * cols);
        for (auto& v : x) v = d(rng);
        if (kind == 1) std::fill(x.begin(), x.end(), 0.0f);
        if (kind == 2) for (auto& v : x) v *= 1e-41f;             // float32 denormals
        if (kind == 3) x[3] = 1e30f, x[100] = -3e38f, x[200] = 3e38f; // huge outliers
        if (kind == 4) x[5] = INFINITY, x[6] = -INFINITY, x[7] = NAN, x[150] = NAN;
        if (kind == 5) for (std::int64_t i = 0; i < cols; ++i) x[i] = 0.0f; // a whole zero row
        inputs.push_back(std::move(x));
    }
    for (const auto& f : formatTable())
        for (Granularity g : {Granularity::Tensor, Granularity::Channel, Granularity::Group})
            for (bool sym : {true, false}) {
                if (!sym && !f.allowsAsymmetric) continue;
                QuantSpec s{f.id, g, 32, sym};
                for (const auto& x : inputs) {
                    std::vector<float> out(x.size());
                    fakeQuantize(x.data(), rows, cols, s, out.data());
                    float amax = 0;
                    for (float v : x) if (std::isfinite(v)) amax = std::max(amax, std::fabs(v));
                    for (std::size_t i = 0; i < x.size(); ++i) {
                        if (std::isnan(x[i])) {
                            EXPECT_TRUE(std::isnan(out[i])) << f.name;
                            continue;
                        }
                        ASSERT_TRUE(std::isfinite(out[i])) << f.name << " " << granularityName(g) << " in=" << x[i];
                        // No format reaches past 1.5x the data's absmax (MX E2M1's saturation bound);
                        // a cast has no scale: infinities saturate to its largest finite value.
                        const float bound = f.kind == FormatKind::Cast ? f.element->maxValue : 1.5f * amax + 1e-30f;
                        ASSERT_LE(std::fabs(out[i]), bound) << f.name << " in=" << x[i];
                    }
                }
            }
}

// The cast formats go through the minifloat fast path; half.h's conversions are an independent
// implementation (integer rounding of the float32 bits), so the two must agree on every finite input
// inside the range — subnormals of bf16 (below 2^-126) and of fp16 included.
TEST(FormatCasts, Bf16AndFp16EqualTheHalfConversions) {
    std::mt19937 rng(11);
    std::uniform_int_distribution<std::uint32_t> bitsDist;
    std::vector<float> x;
    while (x.size() < 100000) {
        const float v = std::bit_cast<float>(bitsDist(rng));
        if (std::isfinite(v) && std::fabs(v) < 6.0e4f) x.push_back(v);
        x.push_back(std::ldexp(std::uniform_real_distribution<float>(-2, 2)(rng),
                               std::uniform_int_distribution<int>(-150, 15)(rng)));
    }
    std::vector<float> out(x.size());
    const auto n = static_cast<std::int64_t>(x.size());
    fakeQuantize(x.data(), 1, n, {FormatId::Bf16, Granularity::Tensor, 0, true}, out.data());
    for (std::size_t i = 0; i < x.size(); ++i)
        ASSERT_EQ(out[i], bf16ToF32(f32ToBf16(x[i]))) << "bf16 x=" << x[i];
    fakeQuantize(x.data(), 1, n, {FormatId::Fp16, Granularity::Tensor, 0, true}, out.data());
    for (std::size_t i = 0; i < x.size(); ++i)
        ASSERT_EQ(out[i], f16ToF32(f32ToF16(x[i]))) << "fp16 x=" << x[i];
}
