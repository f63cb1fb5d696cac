// SPDX-License-Identifier: MIT
// RTN against the independently computed references of shared/fixtures (element for element).
#include "fixture_paths.h"
#include "io/npy.h"
#include "model/model.h"
#include "quant/fake_quant.h"

#include <gtest/gtest.h>

using namespace qs::core;

namespace {

std::vector<float> fakeQuantDown1(const QuantSpec& spec) {
    auto model = openModel(qs::test::tinyLlama());
    const WeightInfo* info = model->find("model.layers.1.mlp.down_proj.weight");
    EXPECT_NE(info, nullptr);
    auto w = model->weightAsOutIn(*info);
    EXPECT_EQ(info->matrixRows(), 192);
    EXPECT_EQ(info->matrixCols(), 512);
    std::vector<float> out(w.size());
    fakeQuantize(w.data(), 192, 512, spec, out.data());
    return out;
}

void expectBitExact(const std::vector<float>& got, const char* refFile) {
    const Tensor ref = readNpy(qs::test::tinyLlama() / refFile);
    ASSERT_EQ(ref.dtype(), DType::F32);
    ASSERT_EQ(ref.shape(), (Shape{192, 512}));
    const float* r = ref.data<float>();
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < got.size(); ++i) mismatches += got[i] != r[i];
    EXPECT_EQ(mismatches, 0u) << refFile;
}

} // namespace

TEST(RtnFixture, Int4AsymGroup32DownProjMatchesReference) {
    QuantSpec spec{FormatId::Int4, Granularity::Group, 32, false};
    expectBitExact(fakeQuantDown1(spec), "ref_rtn_int4g32_down1.npy");
}

TEST(RtnFixture, Int8PerChannelSymDownProjMatchesReference) {
    QuantSpec spec{FormatId::Int8, Granularity::Channel, 0, true};
    expectBitExact(fakeQuantDown1(spec), "ref_int8pc_down1.npy");
}

TEST(RtnFixture, BitsPerWeightCountsScalesAndZeros) {
    // 192 x 512, group 32: 4-bit codes + per group one fp16 scale and one 4-bit zero point.
    QuantSpec g32{FormatId::Int4, Granularity::Group, 32, false};
    EXPECT_DOUBLE_EQ(g32.totalBits(192, 512), 192.0 * 512 * 4 + 192.0 * 16 * (16 + 4));
    EXPECT_DOUBLE_EQ(g32.bitsPerWeight(192, 512), 4.0 + 20.0 / 32);
    // Symmetric per channel: one fp16 scale per row, no zero point.
    QuantSpec pc{FormatId::Int8, Granularity::Channel, 0, true};
    EXPECT_DOUBLE_EQ(pc.bitsPerWeight(192, 512), 8.0 + 16.0 / 512);
    // A short last group still carries a full scale: 100 columns in groups of 32 -> 4 groups.
    QuantSpec g{FormatId::Int3, Granularity::Group, 32, true};
    EXPECT_DOUBLE_EQ(g.totalBits(2, 100), 2.0 * 100 * 3 + 2.0 * 4 * 16);
    // Per tensor: one fp32 scale.
    QuantSpec t{FormatId::Int8, Granularity::Tensor, 0, true};
    EXPECT_DOUBLE_EQ(t.totalBits(10, 10), 800.0 + 32);
}
