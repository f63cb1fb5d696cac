// SPDX-License-Identifier: MIT
// The backward pass on tiny random models of every architecture the forward pass runs, checked
// against central finite differences in float64 along random directions (g·v and vᵀHv), against the
// forward pass's own loss, and for thread-count invariance.
#include "fixture_paths.h"
#include "eval/perplexity.h"
#include "model/model.h"
#include "naive_lm.h"
#include "nn/causal_lm_grad.h"

#include <gtest/gtest.h>

#include <cmath>
#include <omp.h>
#include <random>

using namespace qs::core;

namespace {

struct Case {
    const char* label;
    qs::test::TinySpec spec;
    double step = 1e-3; ///< finite-difference step (ReLU: small enough not to cross its kink)
};

std::vector<Case> cases() {
    std::vector<Case> out;
    qs::test::TinySpec llama; // GQA 4/2, SiLU gate, untied head
    out.push_back({"llama_gqa", llama});
    qs::test::TinySpec bias = llama;
    bias.qkvBias = true;
    bias.tied = true;
    bias.ropeScaling = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                        {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8}};
    out.push_back({"llama_bias_tied_llama3_rope", bias});
    qs::test::TinySpec mistral = llama;
    mistral.modelType = "mistral";
    mistral.slidingWindow = 5;
    out.push_back({"mistral_sliding_window", mistral});
    qs::test::TinySpec qwen = llama;
    qwen.modelType = "qwen2";
    qwen.ropeScaling = {{"type", "linear"}, {"factor", 2.0}};
    out.push_back({"qwen2_bias_linear_rope", qwen});
    qs::test::TinySpec gpt2;
    gpt2.modelType = "gpt2";
    gpt2.heads = 4;
    gpt2.kvHeads = 4;
    out.push_back({"gpt2_layernorm_gelu_tied", gpt2});
    qs::test::TinySpec gelu = llama;
    gelu.activation = "gelu";
    gelu.heads = 2;
    gelu.kvHeads = 1;
    out.push_back({"llama_gelu_erf_mqa", gelu});
    qs::test::TinySpec relu = gpt2;
    relu.activation = "relu";
    out.push_back({"gpt2_relu", relu, 1e-5});
    return out;
}

struct Tiny {
    std::unique_ptr<Model> model;
    std::unique_ptr<CausalLm> lm;
    std::vector<std::int32_t> tokens;
    std::vector<std::span<const std::int32_t>> windows;

    Tiny(const Case& c, int windowCount = 3, int length = 12) {
        const auto dir = qs::test::outputDir(std::string("grad_") + c.label);
        qs::test::writeTinyModel(dir, c.spec);
        model = openModel(dir);
        lm = std::make_unique<CausalLm>(*model);
        std::mt19937 rng(11);
        std::uniform_int_distribution<int> id(0, c.spec.vocab - 1);
        tokens.resize(static_cast<std::size_t>(windowCount * length));
        for (auto& t : tokens) t = id(rng);
        for (int w = 0; w < windowCount; ++w)
            windows.emplace_back(tokens.data() + w * length, static_cast<std::size_t>(length));
    }

    WeightDirection randomDirection(unsigned seed) const {
        std::mt19937 rng(seed);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        WeightDirection v;
        for (const DifferentiableWeight& w : differentiableWeights(*lm)) {
            std::vector<float> x(static_cast<std::size_t>(w.size));
            for (auto& e : x) e = 0.1f * normal(rng); // about half the weights' own scale
            v[w.name] = std::move(x);
        }
        return v;
    }
};

double dot(const LossGradient& g, const WeightDirection& v) {
    double s = 0;
    for (std::size_t i = 0; i < g.names.size(); ++i)
        if (const auto it = v.find(g.names[i]); it != v.end())
            for (std::size_t j = 0; j < it->second.size(); ++j) s += double(g.gradients[i][j]) * it->second[j];
    return s;
}

} // namespace

TEST(GradModel, DerivativesAlongRandomDirectionsMatchFloat64FiniteDifferences) {
    for (const Case& c : cases()) {
        SCOPED_TRACE(c.label);
        Tiny t(c);
        const WeightDirection v = t.randomDirection(3);
        GradOptions f64;
        f64.float64 = true;
        auto loss = [&](double step) { return lossAlong(*t.lm, t.windows, 1, v, step, f64); };
        // Fourth-order central differences (truncation O(h⁴), rounding ~1e-16 / h²).
        const double h = c.step, l0 = loss(0), lp = loss(h), lm = loss(-h), lp2 = loss(2 * h), lm2 = loss(-2 * h);
        const double fdFirst = (8 * (lp - lm) - (lp2 - lm2)) / (12 * h);
        const double fdSecond = (-lp2 + 16 * lp - 30 * l0 + 16 * lm - lm2) / (12 * h * h);

        // Reverse mode (float64 and float32) and forward-over-reverse (float64 and float32).
        const LossGradient g64 = lossGradient(*t.lm, t.windows, 1, f64);
        EXPECT_NEAR(g64.loss, l0, 1e-12 * l0);
        EXPECT_NEAR(dot(g64, v), fdFirst, 1e-6 * std::abs(fdFirst));
        const LossGradient g32 = lossGradient(*t.lm, t.windows, 1);
        EXPECT_NEAR(dot(g32, v), fdFirst, 1e-4 * std::abs(fdFirst));
        const DirectionalCurvature c64 = curvatureAlong(*t.lm, t.windows, 1, v, false, f64);
        EXPECT_NEAR(c64.dirDeriv, fdFirst, 1e-6 * std::abs(fdFirst));
        EXPECT_NEAR(c64.curvature, fdSecond, 1e-4 * std::abs(fdSecond));
        const DirectionalCurvature c32 = curvatureAlong(*t.lm, t.windows, 1, v);
        EXPECT_NEAR(c32.curvature, c64.curvature, 1e-3 * std::abs(c64.curvature));
    }
}

TEST(GradModel, EachWeightsGradientMatchesFiniteDifferencesAlongItsOwnDirection) {
    // One direction per weight (the others zero): catches a gradient routed to the wrong tensor,
    // which a direction over all weights could hide.
    for (const Case& c : cases()) {
        SCOPED_TRACE(c.label);
        Tiny t(c, 2, 9);
        GradOptions f64;
        f64.float64 = true;
        const LossGradient g = lossGradient(*t.lm, t.windows, 1, f64);
        const WeightDirection all = t.randomDirection(5);
        for (const auto& [name, values] : all) {
            const WeightDirection v{{name, values}};
            auto loss = [&](double step) { return lossAlong(*t.lm, t.windows, 1, v, step, f64); };
            const double h = c.step;
            const double fd = (8 * (loss(h) - loss(-h)) - (loss(2 * h) - loss(-2 * h))) / (12 * h);
            EXPECT_NEAR(dot(g, v), fd, 1e-6 * std::abs(fd) + 1e-11) << name;
        }
    }
}

TEST(GradModel, LossIsTheForwardPassesLoss) {
    for (const Case& c : cases()) {
        SCOPED_TRACE(c.label);
        Tiny t(c);
        EvalOptions opts;
        opts.ctx = 12;
        const PerplexityResult p = evaluatePerplexity(*t.lm, t.tokens, opts, {});
        const LossGradient g = lossGradient(*t.lm, t.windows, 1);
        EXPECT_EQ(g.tokensScored, p.tokensScored);
        EXPECT_NEAR(g.loss, p.meanNll, 1e-6 * p.meanNll);
    }
}

TEST(GradModel, FakeQuantizedActivationsAndKvAreTheForwardPassesToo) {
    Tiny t(cases()[0]);
    ForwardHooks hooks;
    hooks.activation = QuantSpec{FormatId::Int8, Granularity::Channel, 0, true};
    hooks.kvCache = QuantSpec{FormatId::Int8, Granularity::Channel, 0, false};
    t.lm->setHooks(hooks);
    EvalOptions opts;
    opts.ctx = 12;
    const PerplexityResult p = evaluatePerplexity(*t.lm, t.tokens, opts, {});
    const LossGradient g = lossGradient(*t.lm, t.windows, 1);
    EXPECT_NEAR(g.loss, p.meanNll, 1e-6 * p.meanNll);
    // Straight through: the gradient is the float model's chain rule evaluated at quantized values,
    // so it differs from the unquantized gradient but stays close to it.
    t.lm->setHooks({});
    const LossGradient plain = lossGradient(*t.lm, t.windows, 1);
    double diff = 0, norm = 0;
    for (std::size_t i = 0; i < g.gradients.size(); ++i)
        for (std::size_t j = 0; j < g.gradients[i].size(); ++j) {
            diff += std::pow(g.gradients[i][j] - plain.gradients[i][j], 2);
            norm += std::pow(plain.gradients[i][j], 2);
        }
    EXPECT_GT(diff, 0);
    EXPECT_LT(std::sqrt(diff / norm), 0.1);
}

TEST(GradModel, SameBitsAtAnyThreadCount) {
    Tiny t(cases()[0], 6, 16);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    const LossGradient one = lossGradient(*t.lm, t.windows, 1, {.batchTokens = 32});
    const DirectionalCurvature cOne = curvatureAlong(*t.lm, t.windows, 1, t.randomDirection(2));
    omp_set_num_threads(2);
    const LossGradient two = lossGradient(*t.lm, t.windows, 1, {.batchTokens = 32});
    const DirectionalCurvature cTwo = curvatureAlong(*t.lm, t.windows, 1, t.randomDirection(2));
    omp_set_num_threads(saved);
    EXPECT_EQ(one.loss, two.loss);
    EXPECT_EQ(one.gradients, two.gradients);
    EXPECT_EQ(cOne.curvature, cTwo.curvature);
}

TEST(GradModel, BadInputIsAnErrorNamingIt) {
    Tiny t(cases()[0]);
    std::vector<std::int32_t> bad(12, 0);
    bad[4] = 40; // vocab is 40
    std::vector<std::span<const std::int32_t>> w{bad};
    EXPECT_THROW(lossGradient(*t.lm, w, 1), Error);
    std::vector<std::span<const std::int32_t>> uneven{t.windows[0], t.windows[1].first(5)};
    EXPECT_THROW(lossGradient(*t.lm, uneven, 1), Error);
    EXPECT_THROW(curvatureAlong(*t.lm, t.windows, 1, {{"nope", {1.0f}}}), Error);
    EXPECT_THROW(curvatureAlong(*t.lm, t.windows, 1, {{"lm_head.weight", {1.0f}}}), Error);
    ForwardHooks h;
    h.siteTransform = [](int, int, RowMatrixF&) {};
    t.lm->setHooks(h);
    EXPECT_THROW(lossGradient(*t.lm, t.windows, 1), Error);
    ForwardHooks bf16;
    bf16.bf16Products = true; // the backward pass is float32 only
    t.lm->setHooks(bf16);
    EXPECT_THROW(lossGradient(*t.lm, t.windows, 1), Error);
}

TEST(GradModel, LinearObserverSeesEachLinearsInputAndOutputGradient) {
    // Σ dy·(x·Vᵀ) over a Linear's outputs is the directional derivative g_W·V: checks the observer's
    // x and dy (layout, batching, GPT-2's fused Conv1D) against the weight gradient.
    for (const Case& c : {cases()[0], cases()[4]}) {
        SCOPED_TRACE(c.label);
        Tiny t(c, 4, 10);
        const WeightDirection v = t.randomDirection(9);
        std::map<std::string, double> viaObserver;
        GradOptions o;
        o.batchTokens = 20; // two windows per batch: the observer is called per batch
        o.linearObserver = [&](const std::string& name, const float* x, std::int64_t rows, std::int64_t in,
                               const float* dy, std::int64_t out) {
            const WeightInfo* info = t.model->find(name);
            ASSERT_NE(info, nullptr);
            const std::vector<float>& vs = v.at(name);
            double sum = 0;
            for (std::int64_t r = 0; r < rows; ++r)
                for (std::int64_t k = 0; k < out; ++k) {
                    double y = 0; // (x·Vᵀ)[r, k] with V as [out, in]
                    for (std::int64_t i = 0; i < in; ++i)
                        y += double(x[r * in + i]) * vs[static_cast<std::size_t>(info->transposed ? i * out + k : k * in + i)];
                    sum += double(dy[r * out + k]) * y;
                }
            viaObserver[name] += sum;
        };
        const LossGradient g = lossGradient(*t.lm, t.windows, 1, o);
        EXPECT_FALSE(viaObserver.empty());
        for (const auto& [name, sum] : viaObserver) {
            double gv = 0;
            const std::vector<float>& gr = g.gradient(name);
            for (std::size_t i = 0; i < gr.size(); ++i) gv += double(gr[i]) * v.at(name)[i];
            EXPECT_NEAR(sum, gv, 1e-4 * std::abs(gv) + 1e-7) << name;
        }
    }
}

TEST(GradModel, ClippedActivationsGetNoStraightThroughGradient) {
    // Per-token int4 activations clipped at the 80th percentile of |x|: a fifth of each row saturates.
    // Through the first layer's MLP, down_proj's input m = silu(g)·u is quantized, so up_proj's output
    // gradient must be dm·silu(g) where m lies inside its row's range and exactly 0 where it was
    // clipped (beyond the saturation level 7s by more than half a step s); written out here from the
    // observer's inputs and the weights, in float64.
    Tiny t(cases()[0], 2, 12);
    ForwardHooks hooks;
    QuantSpec clip{FormatId::Int4, Granularity::Channel, 0, true};
    clip.scaleRule = ScaleRule::Percentile;
    clip.percentile = 80.0;
    hooks.activation = clip;
    t.lm->setHooks(hooks);
    const std::string prefix = "model.layers.0.mlp.";
    std::map<std::string, std::vector<float>> xs, dys;
    std::int64_t rows = 0;
    GradOptions o;
    o.batchTokens = 24; // one batch: one observer call per Linear
    o.linearObserver = [&](const std::string& name, const float* x, std::int64_t r, std::int64_t in, const float* dy,
                           std::int64_t out) {
        if (name.rfind(prefix, 0) != 0) return;
        rows = r;
        xs[name].assign(x, x + r * in);
        dys[name].assign(dy, dy + r * out);
    };
    lossGradient(*t.lm, t.windows, 1, o);
    const WeightInfo& up = *t.model->find(prefix + "up_proj.weight");
    const std::int64_t inter = up.matrixRows(), hidden = up.matrixCols();
    const std::vector<float> wg = t.model->weight(prefix + "gate_proj.weight").toFloats();
    const std::vector<float> wu = t.model->weight(prefix + "up_proj.weight").toFloats();
    const std::vector<float> wd = t.model->weight(prefix + "down_proj.weight").toFloats(); // [hidden, inter]
    const std::vector<float>& h2 = xs.at(prefix + "up_proj.weight");
    const std::vector<float>& mq = xs.at(prefix + "down_proj.weight");
    const std::vector<float>& dyDown = dys.at(prefix + "down_proj.weight");
    const std::vector<float>& du = dys.at(prefix + "up_proj.weight");
    int clipped = 0, inside = 0;
    for (std::int64_t r = 0; r < rows; ++r) {
        double level = 0; // the row's saturation level 7s: where its clipped elements landed
        for (std::int64_t i = 0; i < inter; ++i) level = std::max(level, std::fabs(double(mq[r * inter + i])));
        const double bound = level * 7.5 / 7.0;
        for (std::int64_t i = 0; i < inter; ++i) {
            double g = 0, u = 0, dm = 0;
            for (std::int64_t c = 0; c < hidden; ++c) {
                g += double(h2[r * hidden + c]) * wg[i * hidden + c];
                u += double(h2[r * hidden + c]) * wu[i * hidden + c];
            }
            for (std::int64_t k = 0; k < hidden; ++k) dm += double(dyDown[r * hidden + k]) * wd[k * inter + i];
            const double silu = g / (1.0 + std::exp(-g)), m = silu * u;
            if (std::fabs(std::fabs(m) - bound) < 1e-4 * bound) continue; // too close to call in float32
            const double got = du[r * inter + i];
            if (std::fabs(m) > bound) {
                ++clipped;
                EXPECT_EQ(got, 0.0) << r << "," << i;
            } else {
                ++inside;
                EXPECT_NEAR(got, dm * silu, 1e-4 * std::fabs(dm * silu) + 1e-7) << r << "," << i;
            }
        }
    }
    EXPECT_GT(clipped, rows * inter / 10);
    EXPECT_GT(inside, rows * inter / 2);
}

TEST(GradModel, LayerMajorGivesTheWholeModelsGradientOneLayerAtATime) {
    // Every architecture, one batch and three: the same bits as the whole-model pass (a tied
    // embedding sums its head and input parts in another order over several batches: 1e-6).
    for (const Case& c : cases()) {
        SCOPED_TRACE(c.label);
        Tiny t(c, 6, 10);
        ForwardHooks hooks; // clipped activations, so the straight-through masks take part too
        QuantSpec clip{FormatId::Int8, Granularity::Channel, 0, true};
        clip.scaleRule = ScaleRule::Percentile;
        clip.percentile = 95.0;
        hooks.activation = clip;
        for (long long batchTokens : {60LL, 20LL}) {
            GradOptions o;
            o.batchTokens = batchTokens;
            t.lm->setHooks(hooks);
            const LossGradient whole = lossGradient(*t.lm, t.windows, 1, o);
            CausalLm lowMemory = CausalLm::layerByLayer(*t.model);
            lowMemory.setHooks(hooks);
            std::map<std::string, std::vector<float>> got;
            std::vector<std::string> order;
            const LossGradient layerMajor = lossGradientLayerMajor(
                lowMemory, t.windows, 1,
                [&](const std::string& name, std::vector<float> g) {
                    order.push_back(name);
                    EXPECT_TRUE(got.emplace(name, std::move(g)).second) << "twice: " << name;
                },
                {}, o);
            EXPECT_EQ(layerMajor.loss, whole.loss);
            EXPECT_EQ(layerMajor.tokensScored, whole.tokensScored);
            ASSERT_EQ(got.size(), whole.names.size());
            const bool tied = c.spec.tied || c.spec.modelType == "gpt2";
            for (std::size_t i = 0; i < whole.names.size(); ++i) {
                const std::vector<float>& g = got.at(whole.names[i]);
                if (tied && batchTokens == 20 && i == 0) { // slot 0: the embedding
                    ASSERT_EQ(g.size(), whole.gradients[i].size());
                    float largest = 0;
                    for (float x : whole.gradients[i]) largest = std::max(largest, std::fabs(x));
                    for (std::size_t j = 0; j < g.size(); ++j)
                        EXPECT_NEAR(g[j], whole.gradients[i][j], 1e-6 * largest) << whole.names[i];
                } else {
                    EXPECT_EQ(g, whole.gradients[i]) << whole.names[i];
                }
            }
            // The last layer's gradients come first, the resident weights' last.
            EXPECT_NE(order.front().find(".1."), std::string::npos) << order.front();
            EXPECT_LT(static_cast<long long>(lowMemory.peakWeightBytes()), t.model->parameterCount() * 4);
        }
    }
}
