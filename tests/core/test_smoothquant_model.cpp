// SPDX-License-Identifier: MIT
// SmoothQuant on the tiny Llama: folded into norms / v_proj / up_proj, exact without quantization,
// better W8A8 / W6A6 than naive with per-tensor activation scales, MX activation formats run (test.txt 64 x 128; fp32 ppl 8.458817).
#include "test_rotation_common.h"

#include <cmath>
#include <gtest/gtest.h>

using namespace qs::core;
using namespace qs::test;

namespace {

TEST(SmoothQuantModel, FoldedModelIsInvariantAndNeedsNoOnlineOps) {
    EXPECT_LT(tfInvarianceError({{"smoothquant", {{"alpha", 0.5}}}}), 1e-4);
    const auto t = applyTransforms(tfModel(), tfRegistries().transforms, {{"smoothquant", {}}}, &tfCalibration(), {});
    EXPECT_FALSE(t.online);
    EXPECT_FALSE(t.siteTransform);
    EXPECT_TRUE(t.weights.count("model.layers.0.input_layernorm.weight"));
    EXPECT_TRUE(t.weights.count("model.layers.0.self_attn.v_proj.weight"));
}

TEST(SmoothQuantModel, NeedsCalibration) {
    EXPECT_THROW(applyTransforms(tfModel(), tfRegistries().transforms, {{"smoothquant", {}}}, nullptr, {}), Error);
}

TEST(SmoothQuantModel, BeatsNaiveWithPerTensorActivations) {
    // SmoothQuant's setting: one scale per activation tensor, where outlier channels cost the most.
    // Per-token activations are printed too: there the tiny model has little to gain (one scale per
    // token already absorbs its token-wise outliers) and smoothing only moves range into the weights.
    for (auto [bits, fmt] : {std::pair{8, FormatId::Int8}, std::pair{6, FormatId::Int6}})
        for (auto gran : {Granularity::Tensor, Granularity::Token}) {
            TfRun naive;
            naive.weights = tfSpec(fmt, Granularity::Channel);
            naive.activation = tfSpec(fmt, gran);
            TfRun smooth = naive;
            smooth.transforms = {{"smoothquant", {{"alpha", 0.5}}}};
            const std::string what = "W" + std::to_string(bits) + "A" + std::to_string(bits) +
                                     (gran == Granularity::Tensor ? " per-tensor " : " per-token ");
            const double p0 = tfEvaluate(naive, (what + "rtn").c_str()).perplexity;
            const double p1 = tfEvaluate(smooth, (what + "smoothquant+rtn").c_str()).perplexity;
            if (gran == Granularity::Tensor) {
                EXPECT_LT(p1, p0) << what;
            }
        }
}

TEST(SmoothQuantModel, MxActivationFormatsRun) {
    for (auto [fmt, label] : {std::pair{FormatId::MxInt8, "W8 mxint8-act smoothquant"},
                              std::pair{FormatId::MxFp8E4M3, "W8 mxfp8-act smoothquant"}}) {
        TfRun run;
        run.transforms = {{"smoothquant", {}}};
        run.weights = tfSpec(FormatId::Int8, Granularity::Channel);
        run.activation = QuantSpec::fromJson({{"format", fmt == FormatId::MxInt8 ? "mxint8" : "mxfp8_e4m3"}});
        const double p = tfEvaluate(run, label).perplexity;
        EXPECT_TRUE(std::isfinite(p));
        EXPECT_LT(p, 8.458817 * 1.05);
    }
}

} // namespace
