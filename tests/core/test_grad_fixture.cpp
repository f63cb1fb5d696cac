// SPDX-License-Identifier: MIT
// The backward pass against reference_grad.json (float64 PyTorch autograd on the fixture, section 2.8
// of the fixtures README), with the README's tolerances for a float32 implementation.
#include "fixture_paths.h"
#include "eval/perplexity.h"
#include "io/npy.h"
#include "model/model.h"
#include "nn/causal_lm_grad.h"
#include "quant/fake_quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

using namespace qs::core;

namespace {

struct GradFixture {
    std::unique_ptr<Model> model = openModel(qs::test::tinyLlama());
    CausalLm lm{*model};
    nlohmann::json ref = nlohmann::json::parse(std::ifstream(qs::test::tinyLlama() / "reference_grad.json"));
    std::vector<std::int32_t> tokens;
    std::vector<std::span<const std::int32_t>> windows;

    GradFixture() {
        const Tensor t = readNpy(qs::test::tinyLlama() / "ref_test_tokens.npy");
        for (std::int64_t i = 0; i < 1024; ++i)
            tokens.push_back(static_cast<std::int32_t>(t.dtype() == DType::I64 ? t.data<std::int64_t>()[i]
                                                                              : t.data<std::int32_t>()[i]));
        for (int k = 0; k < 8; ++k)
            windows.emplace_back(tokens.data() + 128 * k, 128);
    }

    // v = RTN int4 group-32 asymmetric (W) − W on every decoder Linear, as float32.
    WeightDirection rtnDirection() const {
        WeightDirection v;
        const QuantSpec spec{FormatId::Int4, Granularity::Group, 32, false};
        for (const auto& name : ref["direction"]["quantized_weight_names"]) {
            const WeightInfo* info = model->find(name.get<std::string>());
            std::vector<float> w = model->weightAsOutIn(*info), q(w.size());
            fakeQuantize(w.data(), info->matrixRows(), info->matrixCols(), spec, q.data());
            for (std::size_t i = 0; i < w.size(); ++i)
                q[i] -= w[i];
            v[name.get<std::string>()] = std::move(q);
        }
        return v;
    }
};

double relative(double got, double want) {
    return std::abs(got - want) / std::abs(want);
}

void expectFullGradient(const std::vector<float>& got, const char* file) {
    const Tensor ref = readNpy(qs::test::tinyLlama() / file);
    ASSERT_EQ(static_cast<std::size_t>(ref.numel()), got.size()) << file;
    const float* r = ref.data<float>();
    double err = 0, norm = 0, maxAbs = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        err += (double(got[i]) - r[i]) * (double(got[i]) - r[i]);
        norm += double(r[i]) * r[i];
        maxAbs = std::max(maxAbs, std::abs(double(r[i])));
    }
    EXPECT_LE(std::sqrt(err / norm), 1e-4) << file;
    std::size_t outside = 0;
    for (std::size_t i = 0; i < got.size(); ++i)
        outside += std::abs(double(got[i]) - r[i]) > 1e-4 * maxAbs;
    EXPECT_EQ(outside, 0u) << file;
}

} // namespace

TEST(GradFixture, LossAndEveryGradientMatchFloat64Autograd) {
    GradFixture f;
    const LossGradient g = lossGradient(f.lm, f.windows, 1);
    EXPECT_EQ(g.tokensScored, f.ref["tokens_scored"].get<long long>());
    EXPECT_LE(relative(g.loss, f.ref["loss"].get<double>()), 1e-5);
    EXPECT_LE(relative(std::exp(g.loss), f.ref["perplexity"].get<double>()), 1e-5);
    ASSERT_EQ(g.names.size(), 39u); // every tensor of model.safetensors
    ASSERT_EQ(f.ref["grad_norms"].size(), 39u);
    for (const auto& [name, norm] : f.ref["grad_norms"].items()) {
        const std::vector<float>& gr = g.gradient(name);
        double sq = 0;
        for (float x : gr) sq += double(x) * x;
        EXPECT_LE(relative(std::sqrt(sq), norm.get<double>()), 1e-4) << name;
    }
    expectFullGradient(g.gradient("model.layers.1.mlp.down_proj.weight"), "ref_grad_down1.npy");
    expectFullGradient(g.gradient("model.embed_tokens.weight"), "ref_grad_embed.npy");
}

TEST(GradFixture, BatchingAndRecomputationChangeNothing) {
    GradFixture f;
    const LossGradient a = lossGradient(f.lm, f.windows, 1, {.batchTokens = 1024, .recompute = false});
    const LossGradient b = lossGradient(f.lm, f.windows, 1, {.batchTokens = 1024, .recompute = true});
    EXPECT_EQ(a.loss, b.loss);
    EXPECT_EQ(a.gradients, b.gradients); // recomputation repeats the same operations
    EXPECT_LT(b.peakActivationBytes, a.peakActivationBytes);
}

TEST(GradFixture, CurvatureAlongTheRtnErrorIsExact) {
    GradFixture f;
    const WeightDirection v = f.rtnDirection();
    double norm = 0;
    for (const auto& [name, x] : v)
        for (float e : x) norm += double(e) * e;
    EXPECT_NEAR(std::sqrt(norm), f.ref["direction"]["v_l2_norm"].get<double>(), 1e-4);

    const DirectionalCurvature c = curvatureAlong(f.lm, f.windows, 1, v);
    EXPECT_LE(relative(c.loss, f.ref["loss"].get<double>()), 1e-5);
    const double dd = f.ref["dir_deriv"].get<double>();
    EXPECT_LE(std::abs(c.dirDeriv - dd), std::max(1e-4 * std::abs(dd), 1e-7));
    EXPECT_LE(relative(c.curvature, f.ref["curvature"].get<double>()), 1e-4);

    // g·v from the reverse-mode gradient agrees with the forward-mode derivative.
    const LossGradient g = lossGradient(f.lm, f.windows, 1);
    double gv = 0;
    for (const auto& [name, x] : v) {
        const std::vector<float>& gr = g.gradient(name);
        for (std::size_t i = 0; i < x.size(); ++i) gv += double(gr[i]) * x[i];
    }
    EXPECT_LE(std::abs(gv - dd), std::max(1e-4 * std::abs(dd), 1e-7));
}

TEST(GradFixture, Float64ModeMatchesTheReferenceToItsOwnPrecision) {
    // The same model in float64 agrees with float64 autograd far inside the float32 tolerances.
    GradFixture f;
    GradOptions f64;
    f64.float64 = true;
    const LossGradient g = lossGradient(f.lm, f.windows, 1, f64);
    EXPECT_LE(relative(g.loss, f.ref["loss"].get<double>()), 1e-10);
    for (const auto& [name, norm] : f.ref["grad_norms"].items()) {
        double sq = 0;
        for (float x : g.gradient(name)) sq += double(x) * x;
        EXPECT_LE(relative(std::sqrt(sq), norm.get<double>()), 1e-6) << name;
    }
    const WeightDirection v = f.rtnDirection();
    const DirectionalCurvature c = curvatureAlong(f.lm, f.windows, 1, v, false, f64);
    EXPECT_LE(relative(c.dirDeriv, f.ref["dir_deriv"].get<double>()), 1e-7);
    EXPECT_LE(relative(c.curvature, f.ref["curvature"].get<double>()), 1e-7);
    for (const auto& [t, loss] : f.ref["slice"].items())
        EXPECT_LE(relative(lossAlong(f.lm, f.windows, 1, v, std::stod(t), f64), loss.get<double>()), 1e-10) << t;
}
