// SPDX-License-Identifier: MIT
// AWQ on synthetic layers: alpha = 0 is RTN, the search never loses to it, outlier channels are where it wins.
#include "experiment/builtins.h"
#include "quant/awq.h"
#include "quant/fake_quant.h"
#include "synthetic_layer.h"

#include <gtest/gtest.h>

using namespace qs::core;

namespace {

WeightMatrix matrixOf(const qs::test::SyntheticLayer& l) { return {l.w.data(), l.rows, l.cols, "synthetic", &l.stats}; }

std::vector<double> fewLargeChannels(std::int64_t cols) {
    std::vector<double> s(cols, 1.0);
    for (std::int64_t c = 3; c < cols; c += 37) s[c] = 25.0; // a few channels with large activations
    return s;
}

} // namespace

TEST(Awq, AlphaZeroIsRtnOfTheSameSpecExactly) {
    const auto l = qs::test::makeLayer(48, 128, 256, 1, fewLargeChannels(128));
    for (const QuantSpec& spec : {QuantSpec{FormatId::Int4, Granularity::Group, 32, false},
                                  QuantSpec{FormatId::Int3, Granularity::Channel, 0, true}}) {
        AwqOptions o;
        o.alpha = 0;
        o.clip = false;
        std::vector<float> awq(l.w.size()), rtn(l.w.size());
        awqQuantize(matrixOf(l), spec, o, awq.data(), {});
        fakeQuantize(l.w.data(), l.rows, l.cols, spec, rtn.data());
        EXPECT_EQ(awq, rtn) << spec.label();
    }
}

TEST(Awq, ChosenAlphaIsNoWorseThanAlphaZero) {
    for (unsigned seed : {2u, 3u, 4u}) {
        const auto l = qs::test::makeLayer(64, 256, 512, seed, seed == 2 ? std::vector<double>{} : fewLargeChannels(256));
        const QuantSpec spec{FormatId::Int4, Granularity::Group, 128, false};
        std::vector<float> out(l.w.size()), rtn(l.w.size());
        const AwqResult r = awqQuantize(matrixOf(l), spec, AwqOptions{}, out.data(), {});
        ASSERT_EQ(r.alphaObjective.size(), 20u);
        EXPECT_LE(r.objectiveBeforeClip, r.alphaObjective.front());
        EXPECT_LE(r.objective, r.objectiveBeforeClip);
        fakeQuantize(l.w.data(), l.rows, l.cols, spec, rtn.data());
        EXPECT_LE(l.outputError(out.data()), l.outputError(rtn.data()) * (1 + 1e-9));
        EXPECT_NEAR(l.outputError(out.data()), r.objective, 1e-6 * r.objective);
    }
}

TEST(Awq, BeatsRtnClearlyWithAFewLargeActivationChannels) {
    const auto l = qs::test::makeLayer(96, 256, 1024, 9, fewLargeChannels(256));
    Registries reg;
    registerBuiltins(reg);
    const Quantizer& q = reg.quantizers.get("awq", "method");
    for (const QuantSpec& spec : {QuantSpec{FormatId::Int4, Granularity::Group, 128, false},
                                  QuantSpec{FormatId::Int3, Granularity::Group, 32, false}}) {
        std::vector<float> out(l.w.size()), rtn(l.w.size());
        q.quantize(matrixOf(l), spec, validateParams(q.params(), {}, "awq"), out.data(), {});
        fakeQuantize(l.w.data(), l.rows, l.cols, spec, rtn.data());
        const double ea = l.outputError(out.data()), er = l.outputError(rtn.data());
        EXPECT_LT(ea, 0.6 * er) << spec.label() << ": awq " << ea << " rtn " << er;
    }
    EXPECT_DOUBLE_EQ(q.bitsPerWeight(QuantSpec{FormatId::Int4, Granularity::Group, 128, false}, {}, 96, 256),
                     4.0 + 20.0 / 128);
}
