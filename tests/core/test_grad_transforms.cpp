// SPDX-License-Identifier: MIT
// The backward pass through online transforms (rotations, ResQ). A transformed float model computes
// the original model's function with Linear inputs in another basis, and neither transform touches
// the residual stream, the embedding or the head: the loss and the gradients of the embedding, the
// head and the final norm must be the original model's, which holds only if every site's gradient
// went back through the basis change's adjoint; o_proj and down_proj (rotated inputs, no folded norm)
// keep their gradients' Frobenius norms. Through quantization the loss is the forward pass's.
#include "nn/causal_lm_grad.h"
#include "test_rotation_common.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace qs::core;
using namespace qs::test;

namespace {

std::vector<std::span<const std::int32_t>> testWindows(int count, int length) {
    std::vector<std::span<const std::int32_t>> w;
    for (int i = 0; i < count; ++i) w.emplace_back(tfTestTokens().data() + i * 128, static_cast<std::size_t>(length));
    return w;
}

double norm(const std::vector<float>& g) {
    double s = 0;
    for (float x : g) s += double(x) * x;
    return std::sqrt(s);
}

double relativeDifference(const std::vector<float>& a, const std::vector<float>& b) {
    double d = 0;
    for (std::size_t i = 0; i < a.size(); ++i) d += std::pow(double(a[i]) - b[i], 2);
    return std::sqrt(d) / norm(b);
}

} // namespace

TEST(GradTransforms, TransformedFloatModelsHaveTheOriginalsLossAndResidualGradients) {
    const auto windows = testWindows(3, 64);
    const LossGradient original = lossGradient(tfLm(), windows, 1);
    const std::vector<std::pair<const char*, std::vector<TransformStep>>> runs = {
        {"rotate hadamard", {{"rotate", {{"rotation", "hadamard"}}}}},
        {"rotate orthogonal", {{"rotate", {{"rotation", "orthogonal"}}}}},
        {"resq", {{"resq", {}}}},
    };
    for (const auto& [label, steps] : runs) {
        SCOPED_TRACE(label);
        const auto t = applyTransforms(tfModel(), tfRegistries().transforms, steps, &tfCalibration(), {});
        CausalLm lm(tfLm(), t.weights);
        lm.setHooks(t.hooks());
        const LossGradient g = lossGradient(lm, windows, 1);
        EXPECT_NEAR(g.loss, original.loss, 1e-5 * original.loss);
        for (const char* name : {"model.embed_tokens.weight", "lm_head.weight", "model.norm.weight"})
            EXPECT_LT(relativeDifference(g.gradient(name), original.gradient(name)), 1e-4) << name;
        for (int l = 0; l < 4; ++l)
            for (const std::string w : {"self_attn.o_proj", "mlp.down_proj"}) {
                const std::string name = "model.layers." + std::to_string(l) + "." + w + ".weight";
                EXPECT_NEAR(norm(g.gradient(name)), norm(original.gradient(name)), 1e-4 * norm(original.gradient(name)))
                    << name;
            }
        // Along the embedding and head, which no transform touches, slope and curvature are the
        // original's: the dual numbers' derivative parts also went through every basis change and back.
        const WeightDirection v{{"lm_head.weight", original.gradient("lm_head.weight")},
                                {"model.embed_tokens.weight", original.gradient("model.embed_tokens.weight")}};
        const DirectionalCurvature c = curvatureAlong(lm, windows, 1, v), c0 = curvatureAlong(tfLm(), windows, 1, v);
        EXPECT_NEAR(c.dirDeriv, c0.dirDeriv, 1e-4 * std::fabs(c0.dirDeriv));
        EXPECT_NEAR(c.curvature, c0.curvature, 1e-3 * std::fabs(c0.curvature));
    }
}

TEST(GradTransforms, ThroughQuantizationTheLossIsTheForwardPasses) {
    // W4 RTN after rotate (per-head KV rotations: its own KV quantizer) and after ResQ (its own
    // subspace site and KV quantizers), all straight through. Each check also shows it can see the
    // quantizer it is about: leaving that quantizer out of the forward pass moves the loss by more
    // than the check's tolerance.
    const auto windows = testWindows(8, 128);
    EvalOptions opts;
    opts.ctx = 128;
    opts.maxWindows = 8;
    auto relative = [](double a, double b) { return std::abs(a - b) / b; };
    for (const char* transform : {"rotate", "resq"}) {
        SCOPED_TRACE(transform);
        QuantJob job;
        job.transforms = {{transform, {}}};
        job.spec = tfSpec(FormatId::Int4, Granularity::Channel);
        const ModelQuantResult q = quantizeModel(tfModel(), tfRegistries(), job, {}, true, {}, &tfCalibration());
        CausalLm lm(tfModel(), q.weights);
        auto forwardLoss = [&](const ForwardHooks& hooks) {
            CausalLm other(tfModel(), q.weights);
            other.setHooks(hooks);
            return evaluatePerplexity(other, tfTestTokens(), opts, {}).meanNll;
        };
        // int4 KV alone: the passes' float sums differ in order only in a few places (softmax, norms),
        // and a 4-bit key or value rounds the other way now and then: 1e-8 to 2e-5 of the loss seen.
        // Without the transform's KV quantizer the loss moves 2e-3 to 4e-3.
        ForwardHooks user;
        user.kvCache = tfSpec(FormatId::Int4, Granularity::Token);
        lm.setHooks(q.hooks(user));
        ASSERT_TRUE(lm.hooks().kvQuantize);
        const double kvLoss = forwardLoss(lm.hooks());
        EXPECT_NEAR(lossGradient(lm, windows, 1).loss, kvLoss, 5e-4 * kvLoss);
        ForwardHooks noKv = lm.hooks();
        noKv.kvQuantize = nullptr;
        EXPECT_GT(relative(forwardLoss(noKv), kvLoss), 1e-3);
        // Plus int4 activations (and ResQ's site quantizer). The two passes order some float sums
        // differently (softmax, norms), a few 4-bit activations then round the other way, and the
        // flip runs on through the later layers: 5e-5 to 1.5e-3 of the loss seen over 8 windows.
        // Without ResQ's site quantizer the loss moves 2.4e-2.
        user.activation = tfSpec(FormatId::Int4, Granularity::Token);
        lm.setHooks(q.hooks(user));
        EXPECT_EQ(bool(lm.hooks().siteQuantize), std::string(transform) == "resq");
        const double loss = forwardLoss(lm.hooks());
        const LossGradient g = lossGradient(lm, windows, 1);
        EXPECT_NEAR(g.loss, loss, 5e-3 * loss);
        EXPECT_GT(norm(g.gradient("model.layers.0.self_attn.q_proj.weight")), 0.0);
        if (lm.hooks().siteQuantize) {
            ForwardHooks noSite = lm.hooks();
            noSite.siteQuantize = nullptr;
            EXPECT_GT(relative(forwardLoss(noSite), loss), 1e-2);
        }
        // float64 cannot run float32 hooks.
        GradOptions f64;
        f64.float64 = true;
        EXPECT_THROW(lossGradient(lm, windows, 1, f64), Error);
    }
}
