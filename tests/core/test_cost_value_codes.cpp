// SPDX-License-Identifier: MIT
// Codes recovered from quantized values, against the fixtures' independently quantized references.
#include "cost/value_codes.h"
#include "fixture_paths.h"
#include "formats/format_traits.h"
#include "io/npy.h"
#include "model/model.h"
#include "quant/fake_quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>

using namespace qs::core;

namespace {

std::vector<float> npy(const std::string& name) { return readNpy(qs::test::tinyLlama() / name).toFloats(); }

QuantSpec spec(FormatId f, Granularity g, int group, bool sym) {
    QuantSpec s;
    s.format = f, s.granularity = g, s.groupSize = group, s.symmetric = sym;
    return s;
}

} // namespace

// GPTQ's own codes (PyTorch reference, fixtures 2.6): groups using the whole 0..15 range give exactly
// the reference codes; the others differ from it by one shift per group (the zero point is not in the values).
TEST(ValueCodes, GptqInt4Group32AsymmetricCodes) {
    const std::vector<float> q = npy("ref_gptq_q0_Q_int4g32.npy");
    const Tensor ref = readNpy(qs::test::tinyLlama() / "ref_gptq_q0_codes_int4g32.npy");
    ASSERT_EQ(ref.dtype(), DType::U8);
    const auto* refCodes = ref.data<std::uint8_t>();
    std::int64_t off = -1;
    const OperandCodes c = gridCodes(q.data(), 192, 192, spec(FormatId::Int4, Granularity::Group, 32, false), &off);
    EXPECT_FALSE(c.isSigned);
    EXPECT_EQ(c.bits, 4);
    EXPECT_EQ(off, 0);
    int fullGroups = 0;
    for (int r = 0; r < 192; ++r)
        for (int g = 0; g < 6; ++g) {
            int lo = 15, hi = 0;
            for (int k = 0; k < 32; ++k) lo = std::min<int>(lo, refCodes[r * 192 + g * 32 + k]), hi = std::max<int>(hi, refCodes[r * 192 + g * 32 + k]);
            const int shift = c.codes[r * 192 + g * 32] - refCodes[r * 192 + g * 32];
            for (int k = 0; k < 32; ++k) {
                const int i = r * 192 + g * 32 + k;
                ASSERT_EQ(c.codes[i] - refCodes[i], lo == 0 && hi == 15 ? 0 : shift) << "row " << r << " group " << g;
            }
            fullGroups += lo == 0 && hi == 15;
        }
    EXPECT_GT(fullGroups, 1000); // most of the 1152 groups: the test sees the exact case
}

// int8 per channel symmetric (fixtures 2.5): q = rhe(W / (amax_r / 127)), recomputed here from the weights.
TEST(ValueCodes, Int8PerChannelMatchesTheFixtureRule) {
    const auto model = openModel(qs::test::tinyLlama());
    const std::vector<float> w = model->weightAsOutIn(*model->find("model.layers.1.mlp.down_proj.weight"));
    const std::vector<float> deq = npy("ref_int8pc_down1.npy");
    const OperandCodes c = gridCodes(deq.data(), 192, 512, spec(FormatId::Int8, Granularity::Channel, 0, true));
    EXPECT_TRUE(c.isSigned);
    for (int r = 0; r < 192; ++r) {
        float amax = 0;
        for (int k = 0; k < 512; ++k) amax = std::max(amax, std::abs(w[r * 512 + k]));
        const float scale = amax / 127.0f;
        for (int k = 0; k < 512; ++k)
            ASSERT_EQ(c.codes[r * 512 + k], static_cast<int>(std::nearbyint(w[r * 512 + k] / scale))) << r << "," << k;
    }
}

// MXFP4 (OCP MX): every block of 32 is E2M1 values times a power of two, so the fixed-point codes
// (value / 0.5) are integers in -12..12 and code * 0.5 * 2^e rebuilds the reference exactly.
TEST(ValueCodes, MxFp4BlocksAreFixedPointE2M1) {
    const std::vector<float> deq = npy("ref_mxfp4_down1.npy");
    const OperandCodes c = gridCodes(deq.data(), 192, 512, spec(FormatId::MxFp4, Granularity::Block, 32, true));
    EXPECT_EQ(c.bits, 5);
    const std::vector<int> e2m1 = {0, 1, 2, 3, 4, 6, 8, 12};
    for (std::size_t b = 0; b < deq.size(); b += 32) {
        double scale = 0;
        for (std::size_t k = b; k < b + 32; ++k) {
            ASSERT_NE(std::find(e2m1.begin(), e2m1.end(), std::abs(c.codes[k])), e2m1.end()) << c.codes[k];
            if (c.codes[k] && !scale) scale = deq[k] / (0.5 * c.codes[k]);
        }
        if (!scale) continue;
        int e = 0;
        ASSERT_EQ(std::frexp(scale, &e), 0.5) << "block scale " << scale << " is not a power of two";
        for (std::size_t k = b; k < b + 32; ++k) ASSERT_EQ(c.codes[k] * 0.5 * scale, deq[k]);
    }
}

// A run whose widest code is unused (GPTQ) or whose width is lower than the format's keeps its true
// codes: the coarsest lattice, not the format's largest code.
TEST(ValueCodes, IntegerRunsTakeTheirTrueCodes) {
    const std::vector<int> codes = {-3, 2, 0, 1, -1, 3, 2, -2};
    std::vector<float> v;
    for (int q : codes) v.push_back(0.0137f * static_cast<float>(q));
    const OperandCodes c = gridCodes(v.data(), 1, 8, spec(FormatId::Int8, Granularity::Channel, 0, true));
    for (std::size_t i = 0; i < codes.size(); ++i) EXPECT_EQ(c.codes[i], codes[i]);
}

// Off-grid values (vector quantization) are counted and rounded, never dropped.
TEST(ValueCodes, OffGridRunsAreCounted) {
    std::mt19937 rng(5);
    std::normal_distribution<float> d;
    std::vector<float> v(64);
    for (float& x : v) x = d(rng);
    std::int64_t off = 0;
    const OperandCodes c = gridCodes(v.data(), 2, 32, spec(FormatId::Int4, Granularity::Channel, 0, true), &off);
    EXPECT_EQ(off, 2);
    for (int q : c.codes) EXPECT_LE(std::abs(q), 7);
}

// DNNsim's rule for unprofiled tensors: unsigned full range when nothing is negative, else symmetric.
TEST(ValueCodes, LinearCodesFollowDnnsim) {
    const std::vector<float> relu = {0.0f, 0.5f, 1.0f, 0.25f};
    const OperandCodes u = linearCodes(relu.data(), relu.size(), 8);
    EXPECT_FALSE(u.isSigned);
    EXPECT_EQ(u.codes, (std::vector<std::int32_t>{0, 128, 255, 64}));
    const std::vector<float> s = {-1.0f, 0.5f, 1.0f, NAN};
    const OperandCodes sc = linearCodes(s.data(), s.size(), 8);
    EXPECT_TRUE(sc.isSigned);
    EXPECT_EQ(sc.codes, (std::vector<std::int32_t>{-127, 64, 127, 0}));
}

TEST(ValueCodes, FixedPointBitsOfTheGrids) {
    EXPECT_EQ(fixedPointBits(formatTraits(FormatId::Int4), true), 4);
    EXPECT_EQ(fixedPointBits(formatTraits(FormatId::Fp4E2M1), true), 5);    // 6 / 0.5 = 12: 4 bits + sign
    EXPECT_EQ(fixedPointBits(formatTraits(FormatId::Fp8E4M3), true), 19);   // 448 / 2^-9 = 229376: 18 + sign
    EXPECT_EQ(fixedPointBits(formatTraits(FormatId::MxInt8), true), 8);     // int8 * 2^-6
    EXPECT_EQ(fixedPointBits(formatTraits(FormatId::Bf16), true), 16);
}
