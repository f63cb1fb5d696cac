// SPDX-License-Identifier: MIT
// ResQ on the tiny Llama: exact without quantization, W4A4KV4 with the 1/8 PCA subspace at 8 bits
// beats plain W4A4KV4 and rotation-only W4A4KV4; bits/weight counts both precisions
// (test.txt 64 x 128; fp32 ppl 8.458817).
#include "test_rotation_common.h"
#include "formats/format_traits.h"
#include "transform/model_transform.h"

#include <gtest/gtest.h>

using namespace qs::core;
using namespace qs::test;

namespace {

TEST(ResqModel, UnquantizedLogitsAreInvariant) {
    EXPECT_LT(tfInvarianceError({{"resq", {}}}), 1e-4);
    EXPECT_LT(tfInvarianceError({{"resq", {{"rotation", "orthogonal"}}}}), 1e-4);
}

TEST(ResqModel, SubspacesAndBits) {
    QuantJob job;
    job.spec = QuantSpec{FormatId::Int4, Granularity::Channel, 128, true};
    job.transforms = {{"resq", {}}};
    const auto q = quantizeModel(tfModel(), tfRegistries(), job, {}, false, {}, &tfCalibration());
    ASSERT_TRUE(q.transformed);
    const TransformedModel& t = *q.transformed;
    EXPECT_EQ(t.highColumns.at("model.layers.0.self_attn.q_proj.weight"), 24); // 192 / 8
    EXPECT_EQ(t.highColumns.at("model.layers.0.mlp.down_proj.weight"), 64);    // 512 / 8
    // The top 1/8 principal directions of a Linear input carry far more than 1/8 of its energy.
    for (const auto& s : t.applied.at(0).at("notes").at("sites")) EXPECT_GT(s.at("energy_high").get<double>(), 0.125);

    // int8 codes for 1/8 of the columns, int4 for the rest, one scale per row in each part.
    const double scales = formatTraits(FormatId::Int8).scaleBits + formatTraits(FormatId::Int4).scaleBits;
    for (const auto& l : q.layers) {
        const double high = std::llround(static_cast<double>(l.cols) / 8.0), low = static_cast<double>(l.cols) - high;
        const double expect = (high * 8 + low * 4 + scales) / static_cast<double>(l.cols);
        EXPECT_NEAR(l.bitsPerWeight, expect, 1e-9) << l.name;
    }
    EXPECT_GT(q.bitsPerWeight, 4.5);
}

TEST(ResqModel, W4A4KV4BeatsPlainAndRotationOnly) {
    TfRun plain;
    plain.weights = tfSpec(FormatId::Int4, Granularity::Channel);
    plain.activation = tfSpec(FormatId::Int4, Granularity::Token);
    plain.kv = tfSpec(FormatId::Int4, Granularity::Token);
    TfRun rotated = plain;
    rotated.transforms = {{"rotate", {}}};
    TfRun resq = plain;
    resq.transforms = {{"resq", {}}};
    const double p0 = tfEvaluate(plain, "W4A4KV4 rtn").perplexity;
    const double p1 = tfEvaluate(rotated, "W4A4KV4 rotate+rtn").perplexity;
    const double p2 = tfEvaluate(resq, "W4A4KV4 resq+rtn (1/8 at 8 bits)").perplexity;
    EXPECT_LT(p2, p0);
    EXPECT_LT(p2, p1);
}

} // namespace
