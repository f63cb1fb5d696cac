// SPDX-License-Identifier: MIT
// GPTQ over mixed-precision column blocks (ResQ's high/low columns in one pass): closed forms (a diagonal
// Hessian gives RTN per block; equal specs on group-aligned blocks give plain GPTQ), the layer objective
// against the split pass, and the exact bit count of quantizeMixedColumns.
#include "experiment/builtins.h"
#include "quant/fake_quant.h"
#include "quant/gptq.h"
#include "synthetic_layer.h"
#include "base/error.h"
#include "transform/mixed_quant.h"

#include <cmath>
#include <gtest/gtest.h>
#include <random>

using namespace qs::core;

namespace {

QuantSpec spec(FormatId f, Granularity g, int group, bool sym) {
    return QuantSpec{f, g, group, sym};
}

// RTN of columns [begin, begin + count) of w [rows, cols] on their own, written into out.
void rtnBlock(const std::vector<float>& w, std::int64_t rows, std::int64_t cols, std::int64_t begin,
              std::int64_t count, const QuantSpec& s, std::vector<float>& out) {
    std::vector<float> in(static_cast<std::size_t>(rows * count)), q(in.size());
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < count; ++c)
            in[r * count + c] = w[r * cols + begin + c];
    fakeQuantize(in.data(), rows, count, s, q.data());
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < count; ++c)
            out[r * cols + begin + c] = q[r * count + c];
}

std::vector<float> hessianOf(const qs::test::SyntheticLayer& l) {
    std::vector<float> h(static_cast<std::size_t>(l.cols * l.cols));
    for (std::int64_t i = 0; i < l.cols; ++i)
        for (std::int64_t j = 0; j < l.cols; ++j)
            h[i * l.cols + j] = static_cast<float>(2.0 / l.stats.samples * l.stats.xtx(i, j));
    return h;
}

const Quantizer& gptqMethod() {
    static const Registries reg = [] {
        Registries r;
        registerBuiltins(r);
        return r;
    }();
    return reg.quantizers.get("gptq", "method");
}

} // namespace

TEST(GptqMixed, DiagonalHessianIsRtnPerBlock) {
    constexpr std::int64_t kRows = 40, kCols = 160, kHigh = 24;
    std::mt19937 rng(7);
    std::normal_distribution<float> n01(0.0f, 1.0f);
    std::uniform_real_distribution<float> u(0.1f, 5.0f);
    std::vector<float> w(kRows * kCols), h(kCols * kCols, 0.0f);
    for (auto& v : w)
        v = 0.05f * n01(rng);
    for (std::int64_t i = 0; i < kCols; ++i)
        h[i * kCols + i] = u(rng);
    struct Case {
        QuantSpec high, low;
    };
    const Case cases[] = {
        {spec(FormatId::Int8, Granularity::Channel, 128, true),
         spec(FormatId::Int4, Granularity::Group, 32, false)},
        {spec(FormatId::Int8, Granularity::Tensor, 128, true),
         spec(FormatId::Int4, Granularity::Tensor, 128, true)},
        {spec(FormatId::Fp8E4M3, Granularity::Channel, 128, true),
         spec(FormatId::NvFp4, Granularity::Block, 16, true)},
    };
    for (const Case& c : cases)
        for (int variant = 0; variant < 3; ++variant) {
            GptqOptions o;
            // act_order forms groups in its own column order (not RTN's) unless they are static.
            o.actOrder = variant == 1;
            o.staticGroups = variant >= 1;
            o.block = 16; // lazy blocks that straddle the split (24)
            const GptqColumnBlock blocks[] = {{kHigh, c.high}, {kCols - kHigh, c.low}};
            std::vector<float> q(w.size()), expect(w.size());
            gptqQuantizeBlocks(w.data(), kRows, kCols, h.data(), blocks, o, q.data());
            rtnBlock(w, kRows, kCols, 0, kHigh, c.high, expect);
            rtnBlock(w, kRows, kCols, kHigh, kCols - kHigh, c.low, expect);
            for (std::size_t i = 0; i < q.size(); ++i)
                ASSERT_EQ(q[i], expect[i])
                    << c.high.label() << " / " << c.low.label() << " variant " << variant << " at " << i;
        }
}

TEST(GptqMixed, EqualSpecsOnGroupBoundariesArePlainGptq) {
    // Two blocks with the same group spec split at a group boundary are the same groups as one matrix:
    // the one pass must then be plain GPTQ, error feedback across the split included.
    const auto l = qs::test::makeLayer(48, 192, 400, 3);
    const std::vector<float> h = hessianOf(l);
    const QuantSpec s = spec(FormatId::Int4, Granularity::Group, 32, false);
    for (bool actOrder : {false, true}) {
        GptqOptions o;
        o.actOrder = actOrder;
        const GptqColumnBlock blocks[] = {{64, s}, {128, s}};
        std::vector<float> joint(l.w.size()), plain(l.w.size());
        std::vector<ScaleParams> pj, pp;
        gptqQuantizeBlocks(l.w.data(), l.rows, l.cols, h.data(), blocks, o, joint.data(), {}, "w", &pj);
        gptqQuantize(l.w.data(), l.rows, l.cols, h.data(), s, o, plain.data(), {}, "w", &pp);
        if (!actOrder) {
            EXPECT_EQ(joint, plain);
            ASSERT_EQ(pj.size(), static_cast<std::size_t>(l.rows * 6));
            for (std::size_t i = 0; i < pj.size(); ++i)
                EXPECT_EQ(pj[i].scale, pp[i].scale) << i;
        } else {
            // act_order stays within each block, so only the objective is comparable; it must still use
            // the cross-block feedback (far below RTN).
            std::vector<float> r(l.w.size());
            fakeQuantize(l.w.data(), l.rows, l.cols, s, r.data());
            EXPECT_LT(l.outputError(joint.data()), 0.8 * l.outputError(r.data()));
        }
    }
}

TEST(GptqMixed, OnePassIsNoWorseThanTheSplitPass) {
    // The one pass compensates the high block's rounding error in the low block; the split pass cannot.
    // The gain is that error's share: large for a coarse high block (int3 then int4), small for
    // ResQ's int8 then int4, where int4 rounding noise of either pass is of the same size (reported only,
    // bounded loosely).
    struct Config {
        QuantSpec high, low;
        std::int64_t highColumns;
        double slack; // allowed relative excess of the one pass
    };
    const Config configs[] = {
        {spec(FormatId::Int3, Granularity::Channel, 128, true),
         spec(FormatId::Int4, Granularity::Channel, 128, true), 64, 0.0},
        {spec(FormatId::Int4, Granularity::Group, 32, false),
         spec(FormatId::Int4, Granularity::Group, 32, false), 96, 0.0},
        {spec(FormatId::Int8, Granularity::Channel, 128, true),
         spec(FormatId::Int4, Granularity::Channel, 128, true), 32, 0.02},
    };
    const Quantizer& gptq = gptqMethod();
    for (const Config& cfg : configs)
        for (unsigned seed : {1u, 2u, 3u, 4u, 5u}) {
            const auto l = qs::test::makeLayer(64, 256, 512, seed);
            const WeightMatrix m{l.w.data(), l.rows, l.cols, "w", &l.stats};
            for (bool actOrder : {false, true}) {
                const nlohmann::json params =
                    validateParams(gptq.params(), {{"act_order", actOrder}}, "gptq");
                std::vector<float> joint(l.w.size()), split(l.w.size());
                gptq.quantizeColumnBlocks(m, cfg.highColumns, cfg.high, cfg.low, params, joint.data(), {});
                gptq.Quantizer::quantizeColumnBlocks(m, cfg.highColumns, cfg.high, cfg.low, params,
                                                     split.data(), {});
                const double ej = l.outputError(joint.data()), es = l.outputError(split.data());
                std::printf(
                    "[ objective] %s | %s seed %u act_order %d: one pass %.5g, split %.5g (%+.1f%%)\n",
                    cfg.high.label().c_str(), cfg.low.label().c_str(), seed, actOrder, ej, es,
                    100.0 * (ej / es - 1.0));
                EXPECT_LE(ej, es * (1.0 + cfg.slack))
                    << cfg.high.label() << " seed " << seed << " act_order " << actOrder;
            }
        }
}

TEST(GptqMixed, BitsAreExactAndBadBlocksAreErrors) {
    const auto l = qs::test::makeLayer(16, 200, 300, 9);
    const QuantSpec high = spec(FormatId::Int8, Granularity::Channel, 128, true);
    const QuantSpec low = spec(FormatId::Int4, Granularity::Group, 32, false);
    const Quantizer& gptq = gptqMethod();
    const nlohmann::json params = validateParams(gptq.params(), nlohmann::json::object(), "gptq");
    std::vector<float> out(l.w.size());
    const double bits = quantizeMixedColumns(gptq, {l.w.data(), l.rows, l.cols, "w", &l.stats}, 24, high, low,
                                             params, out.data(), {});
    // 24 int8 columns + one scale per row; 176 int4 columns in 6 groups (5 of 32, one of 16), each with a
    // scale and a 4-bit zero point.
    const double perRow = 24 * 8 + formatTraits(FormatId::Int8).scaleBits + 176 * 4 +
                          6 * (formatTraits(FormatId::Int4).scaleBits + 4);
    EXPECT_DOUBLE_EQ(bits, perRow / 200.0);
    const std::vector<float> h = hessianOf(l);
    const GptqColumnBlock tooFew[] = {{24, high}, {100, low}}, tooMany[] = {{24, high}, {200, low}};
    EXPECT_THROW(gptqQuantizeBlocks(l.w.data(), l.rows, l.cols, h.data(), tooFew, {}, out.data()), Error);
    EXPECT_THROW(gptqQuantizeBlocks(l.w.data(), l.rows, l.cols, h.data(), tooMany, {}, out.data()), Error);
}
