// SPDX-License-Identifier: MIT
// DGQ on synthetic layers: the two-level scale structure, the search against the naive split, the bit count.
#include "experiment/builtins.h"
#include "quant/dgq.h"
#include "quant/fake_quant.h"
#include "synthetic_layer.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace qs::core;

namespace {

WeightMatrix matrixOf(const qs::test::SyntheticLayer& l) { return {l.w.data(), l.rows, l.cols, "synthetic", &l.stats}; }

} // namespace

TEST(Dgq, GroupScalesAreIntegerMultiplesOfTheChannelScale) {
    const auto l = qs::test::makeLayer(32, 256, 256, 1);
    for (bool sym : {true, false}) {
        const QuantSpec spec{FormatId::Int4, Granularity::Group, 64, sym};
        std::vector<float> out(l.w.size());
        const DgqResult r = dgqQuantize(matrixOf(l), spec, DgqOptions{}, out.data(), {});
        EXPECT_EQ(r.maxMultiplier, sym ? 18 : 8); // m * |q - z| must fit INT8: 127 / 7, 127 / 15
        for (std::int64_t row = 0; row < l.rows; ++row)
            for (std::int64_t c = 0; c < l.cols; ++c) {
                const int m = r.multiplier[row * r.groups + c / 64];
                ASSERT_GE(m, 1);
                ASSERT_LE(m, r.maxMultiplier);
                // w' / (s_c m) + z is a code of the INT4 grid, and m * (code - z) fits INT8.
                const double code = out[row * l.cols + c] / (double(r.channelScale[row]) * m);
                ASSERT_NEAR(code, std::nearbyint(code), 1e-4) << row << "," << c;
                const double z = r.zero[row * r.groups + c / 64];
                ASSERT_GE(std::nearbyint(code) + z, sym ? -7 : 0);
                ASSERT_LE(std::nearbyint(code) + z, sym ? 7 : 15);
                ASSERT_LE(std::fabs(std::nearbyint(code)) * m, 127);
            }
    }
}

TEST(Dgq, SearchIsNoWorseThanTheNaiveSplit) {
    for (unsigned seed : {2u, 3u, 4u}) {
        const auto l = qs::test::makeLayer(64, 256, 512, seed);
        const QuantSpec spec{FormatId::Int4, Granularity::Group, 32, seed % 2 == 0};
        std::vector<float> searched(l.w.size()), naive(l.w.size());
        DgqOptions o;
        dgqQuantize(matrixOf(l), spec, o, searched.data(), {});
        o.search = false;
        dgqQuantize(matrixOf(l), spec, o, naive.data(), {});
        const double es = l.outputError(searched.data()), en = l.outputError(naive.data());
        EXPECT_LE(es, en * (1 + 1e-9)) << "seed " << seed;
        EXPECT_LT(es, en) << "the search should find something on a random layer";
    }
}

TEST(Dgq, BitsPerWeightIsAHandCount) {
    Registries reg;
    registerBuiltins(reg);
    const Quantizer& q = reg.quantizers.get("dgq", "method");
    // INT4 asym group 128: 4-bit codes + per group an 8-bit multiplier and a 4-bit zero + per row an fp16 scale.
    const QuantSpec asym{FormatId::Int4, Granularity::Group, 128, false};
    EXPECT_DOUBLE_EQ(q.bitsPerWeight(asym, {}, 256, 1024), 4.0 + 12.0 / 128 + 16.0 / 1024);
    const QuantSpec sym{FormatId::Int4, Granularity::Group, 128, true};
    EXPECT_DOUBLE_EQ(q.bitsPerWeight(sym, {{"mult_bits", 6}}, 256, 1000), (256.0 * 1000 * 4 + 256.0 * 8 * 6 + 256 * 16) / (256.0 * 1000));
    const auto l = qs::test::makeLayer(8, 64, 64, 1);
    std::vector<float> out(l.w.size());
    EXPECT_THROW(q.quantize(matrixOf(l), QuantSpec{FormatId::Fp8E4M3, Granularity::Group, 32, true},
                            validateParams(q.params(), {}, "dgq"), out.data(), {}),
                 Error);
}
