// SPDX-License-Identifier: MIT
// Sensitivity and CLADO's pair terms on the fixture: exact zeros where nothing changes, the prefix
// cache equal to full reruns, the evaluator equal to the plain comparison path, thread independence.
#include "analysis/candidate_formats.h"
#include "analysis/decision_groups.h"
#include "analysis/prefix_evaluator.h"
#include "analysis/sensitivity.h"
#include "builtin_registries.h"
#include "eval/perplexity.h"
#include "fixture_models.h"
#include "naive_lm.h"
#include "quant/model_quantizer.h"
#include "statistics/rank_correlation.h"
#include "base/error.h"

#include <algorithm>
#include <cmath>
#include <gtest/gtest.h>
#include <omp.h>
#include <random>

using namespace qs::core;
using qs::test::builtinRegistries;
using qs::test::fixtureLm;
using qs::test::fixtureModel;
using qs::test::fixtureTestTokens;

namespace {

CalibrationData smallSet(int ctx = 32, long long windows = 3) {
    return calibrationWindows(fixtureTestTokens(), ctx, windows, "fixture test tokens");
}

SensitivityOptions options(const std::string& formats, bool pairs, int probes = 1) {
    SensitivityOptions o;
    o.candidates = parseCandidateFormats(formats, builtinRegistries(), "test");
    o.pairs = pairs;
    o.hawqProbes = probes;
    return o;
}

} // namespace

TEST(RankCorrelation, SpearmanWithTiesMatchesHandComputed) {
    // x ranks 1, 2.5, 2.5, 4; y ranks 1, 2, 3, 4: Pearson of the ranks = 0.9486832980505138.
    EXPECT_NEAR(spearmanRho({1, 2, 2, 5}, {10, 20, 30, 40}), 0.9486832980505138, 1e-15);
    EXPECT_DOUBLE_EQ(spearmanRho({1, 2, 3}, {3, 2, 1}), -1.0);
    EXPECT_TRUE(std::isnan(spearmanRho({1, 1, 1}, {1, 2, 3})));
    EXPECT_EQ(averageRanks({3, 1, 3}), (std::vector<double>{2.5, 1, 2.5}));
}

TEST(RankCorrelation, KendallTauBMatchesHandCountedPairs) {
    // 6 concordant, 4 discordant pairs of 10: (6 − 4) / 10.
    EXPECT_DOUBLE_EQ(kendallTau({1, 2, 3, 4, 5}, {3, 4, 1, 2, 5}), 0.2);
    // C = 4, D = 0, one pair tied only in x, one only in y: 4 / sqrt(5 · 5).
    EXPECT_DOUBLE_EQ(kendallTau({1, 1, 2, 3}, {1, 2, 2, 3}), 0.8);
    EXPECT_DOUBLE_EQ(misrankingRate({1, 2, 3}, {3, 2, 1}), 1.0);
    EXPECT_TRUE(std::isnan(kendallTau({1, 1}, {1, 2})));
}

TEST(DecisionGroups, FusedFollowsSharedInputsAndEachSplitsThem) {
    const auto fused = decisionGroups(fixtureModel(), fixtureLm(), GroupMode::Fused);
    const auto each = decisionGroups(fixtureModel(), fixtureLm(), GroupMode::Each);
    ASSERT_EQ(fused.size(), 16u); // 4 layers x (q/k/v, o, gate/up, down)
    ASSERT_EQ(each.size(), 28u);  // 4 layers x 7 Linears
    EXPECT_EQ(fused[0].name, "model.layers.0.self_attn.q_proj+k_proj+v_proj");
    EXPECT_EQ(fused[0].weights.size(), 3u);
    EXPECT_EQ(fused[0].params, 192 * 192 + 2 * 64 * 192);
    EXPECT_EQ(fused[2].name, "model.layers.0.mlp.gate_proj+up_proj");
    std::int64_t a = 0, b = 0, quantizable = 0;
    for (const auto& g : fused) a += g.params;
    for (const auto& g : each) b += g.params;
    for (const auto& w : fixtureModel().weights())
        if (w.quantizable) quantizable += numel(w.shape);
    EXPECT_EQ(a, quantizable);
    EXPECT_EQ(b, quantizable);
}

TEST(CandidateFormats, ParsesMethodsKeepAndRefusesRepeatsAndTransforms) {
    const auto c = parseCandidateFormats("keep,int4:group:32:asym,gptq/int3:group:128", builtinRegistries(), "t");
    ASSERT_EQ(c.size(), 3u);
    EXPECT_TRUE(c[0].keep);
    EXPECT_EQ(c[1].job.method, "rtn");
    EXPECT_EQ(c[1].job.spec.groupSize, 32);
    EXPECT_FALSE(c[1].job.spec.symmetric);
    EXPECT_EQ(c[2].job.method, "gptq");
    EXPECT_THROW(parseCandidateFormats("int4:group:32,int4:group:32", builtinRegistries(), "t"), Error);
    EXPECT_THROW(parseCandidateFormats("rotate+gptq/int4", builtinRegistries(), "t"), Error);
    EXPECT_THROW(parseCandidateFormats("", builtinRegistries(), "t"), Error);
    EXPECT_THROW(parseCandidateFormats("int99", builtinRegistries(), "t"), Error);
}

// The evaluator's scores for a whole-model replacement equal compareWithReference's, an independent
// path (window-major, whole forward passes).
TEST(PrefixEvaluator, EqualsThePlainComparison) {
    const CalibrationData set = smallSet();
    PrefixEvaluator ev(fixtureModel(), fixtureLm(), set.windows, {}, {});
    QuantJob job;
    job.spec.format = FormatId::Int4;
    job.spec.granularity = Granularity::Group;
    job.spec.groupSize = 32;
    ModelQuantResult q = quantizeModel(fixtureModel(), builtinRegistries(), job, {}, true);
    const CausalLm quantized(fixtureModel(), q.weights);
    std::vector<std::int32_t> tokens;
    for (const auto& w : set.windows) tokens.insert(tokens.end(), w.begin(), w.end());
    const ComparisonResult want = compareWithReference(fixtureLm(), quantized, tokens, {set.ctx, 0}, {});
    const PerturbedScores got = ev.evaluate(q.weights, {});
    EXPECT_DOUBLE_EQ(ev.reference().nll, want.reference.meanNll);
    EXPECT_DOUBLE_EQ(got.nll, want.candidate.meanNll);
    EXPECT_DOUBLE_EQ(got.kld, want.kld.mean);
    EXPECT_DOUBLE_EQ(got.top1, want.kld.top1Agreement);
    EXPECT_EQ(ev.evaluate({}, {}).nll, ev.reference().nll); // nothing replaced: the reference exactly
}

TEST(Sensitivity, KeepIsExactlyZeroAndPairTermsAreWellFormed) {
    const SensitivityOptions o = options("keep,int4:group:32:asym", true);
    const SensitivityResult r = measureSensitivity(fixtureModel(), smallSet(), builtinRegistries(), o, {});
    const std::size_t G = r.groups.size(), C = 2;
    ASSERT_EQ(G, 16u);
    for (std::size_t g = 0; g < G; ++g) {
        EXPECT_EQ(r.deltaLoss[g][0], 0.0);
        EXPECT_EQ(r.kld[g][0], 0.0);
        EXPECT_EQ(r.top1[g][0], 1.0);
        EXPECT_EQ(r.localError[g][0], 0.0);
        EXPECT_EQ(r.bitsPerWeight[g][0], 16.0); // bf16 weights kept
        EXPECT_GT(r.kld[g][1], 0.0);
        EXPECT_GT(r.localError[g][1], 0.0);
        const QuantSpec int4{FormatId::Int4, Granularity::Group, 32, false};
        EXPECT_DOUBLE_EQ(r.bitsPerWeight[g][1], int4.bitsPerWeight(64, 192)); // codes + a scale and zero per 32
    }
    // Evaluations: non-keep singles and one per pair of non-keep options (HAWQ's probes are
    // Hessian-vector products, not evaluations).
    EXPECT_EQ(r.evaluations, static_cast<long long>(G + G * (G - 1) / 2));
    EXPECT_EQ(r.pairsMeasured, static_cast<long long>(G * (G - 1) / 2));
    ASSERT_EQ(r.interaction.rows(), Eigen::Index(G * C));
    EXPECT_EQ((r.interaction - r.interaction.transpose()).cwiseAbs().maxCoeff(), 0.0);
    for (std::size_t g = 0; g < G; ++g)
        for (std::size_t h = 0; h < G; ++h) {
            EXPECT_EQ(r.interaction(Eigen::Index(r.index(g, 0)), Eigen::Index(r.index(h, 1))), 0.0); // keep
            if (g == h) {
                EXPECT_EQ(r.interaction(Eigen::Index(r.index(g, 1)), Eigen::Index(r.index(h, 1))), 0.0);
            }
        }
    EXPECT_GT(r.layerRunsWithoutCache, r.layerRuns);
}

// The same figures with the prefix cache off (every layer rerun) and at 1 and 2 threads.
TEST(Sensitivity, PrefixCacheAndThreadCountChangeNoBit) {
    SensitivityOptions o = options("int3:group:32:asym,int8:channel:sym", true, 1);
    o.pairDistance = 1;
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    const SensitivityResult one = measureSensitivity(fixtureModel(), smallSet(), builtinRegistries(), o, {});
    omp_set_num_threads(2);
    o.prefixCache = false;
    const SensitivityResult two = measureSensitivity(fixtureModel(), smallSet(), builtinRegistries(), o, {});
    omp_set_num_threads(threads);
    EXPECT_EQ(one.deltaLoss, two.deltaLoss);
    EXPECT_EQ(one.kld, two.kld);
    EXPECT_EQ(one.hawqScore, two.hawqScore);
    EXPECT_EQ(one.localError, two.localError);
    EXPECT_TRUE(one.interaction == two.interaction);
    EXPECT_TRUE(one.interactionKld == two.interactionKld);
    EXPECT_EQ(two.layerRuns, two.layerRunsWithoutCache);
    EXPECT_LT(one.layerRuns, one.layerRunsWithoutCache);
    // Pairs more than one layer apart are not measured (and read 0).
    const auto far = [&](const SensitivityResult& r) {
        return r.interaction(Eigen::Index(r.index(0, 0)), Eigen::Index(r.index(15, 0)));
    };
    EXPECT_EQ(far(one), 0.0);
}

// GPT-2 (transposed Conv1D, fused c_attn, biases), Qwen2 (q/k/v biases) and Mistral (sliding window):
// fused groups follow the shared inputs, keep is exactly 0, the local objective equals sum ||E x||^2
// over the captured inputs, and re-quantizing at each use (no weight cache) changes no figure.
TEST(Sensitivity, EveryArchitectureAndTheLocalObjectiveByHand) {
    for (const char* type : {"gpt2", "qwen2", "mistral"}) {
        qs::test::TinySpec s;
        s.modelType = type;
        s.slidingWindow = std::string(type) == "mistral" ? 5 : 0;
        const auto dir = qs::test::outputDir(std::string("sensitivity_") + type);
        qs::test::writeTinyModel(dir, s);
        const auto model = openModel(dir);
        const CausalLm lm(*model);
        const CalibrationData set = qs::test::tinyWindows();
        SensitivityOptions o;
        o.candidates = parseCandidateFormats("keep,int4:group:16:asym", builtinRegistries(), "test");
        o.hawqProbes = 0;
        const SensitivityResult r = measureSensitivity(*model, set, builtinRegistries(), o, {});
        o.weightCacheBytes = 0;
        const SensitivityResult uncached = measureSensitivity(*model, set, builtinRegistries(), o, {});
        ASSERT_EQ(r.groups.size(), 8u) << type; // 2 layers x 4 input sites
        EXPECT_EQ(r.deltaLoss, uncached.deltaLoss) << type;
        EXPECT_EQ(r.kld, uncached.kld) << type;
        for (std::size_t g = 0; g < r.groups.size(); ++g) {
            EXPECT_EQ(r.kld[g][0], 0.0) << type;
            EXPECT_GT(r.kld[g][1], 0.0) << type;
        }
        // The first group by hand: its input rows x (captured through the layer observer) and
        // E = Q(W) - W as [out, in], whatever the stored layout.
        const DecisionGroup& first = r.groups[0];
        std::vector<Eigen::VectorXd> rows;
        const LinearInputObserver observer = [&](int, const LinearInputSite& site, const RowMatrixF& x) {
            if (std::find(site.weights.begin(), site.weights.end(), first.weights[0]) == site.weights.end()) return;
            for (Eigen::Index t = 0; t < x.rows(); ++t) rows.push_back(x.row(t).transpose().cast<double>());
        };
        for (const auto& w : set.windows) {
            RowMatrixF x = lm.embed(w);
            lm.runLayer(0, x, &observer);
        }
        QuantJob job;
        job.spec = {FormatId::Int4, Granularity::Group, 16, false};
        const ModelQuantResult q = quantizeModel(*model, builtinRegistries(), job, {}, true);
        double local = 0;
        for (const std::string& name : first.weights) {
            const WeightInfo* info = nullptr;
            for (const auto& w : model->weights())
                if (w.name == name) info = &w;
            ASSERT_NE(info, nullptr);
            const std::vector<float> quantized = q.weights.at(name), original = model->weight(name).toFloats();
            const Eigen::Index out = info->matrixRows(), in = info->matrixCols();
            Eigen::MatrixXd e(out, in);
            for (Eigen::Index i = 0; i < out; ++i)
                for (Eigen::Index k = 0; k < in; ++k) {
                    const std::size_t at = info->transposed ? std::size_t(k * out + i) : std::size_t(i * in + k);
                    e(i, k) = double(quantized[at]) - double(original[at]);
                }
            for (const auto& x : rows) local += (e * x).squaredNorm();
        }
        EXPECT_NEAR(r.localError[0][1], local / double(rows.size()), 1e-9 * local / double(rows.size())) << type;
    }
}

// Pairs within one layer, plus a seeded sample of farther ones whose terms estimate the rest.
TEST(Sensitivity, SampledFarPairsEstimateTheUnmeasuredOnes) {
    SensitivityOptions o = options("int3:group:32:asym", true, 0);
    o.pairDistance = 1;
    o.farPairSample = 3;
    const SensitivityResult r = measureSensitivity(fixtureModel(), smallSet(32, 2), builtinRegistries(), o, {});
    long long near = 0, far = 0;
    for (std::size_t g = 0; g < r.groups.size(); ++g)
        for (std::size_t h = g + 1; h < r.groups.size(); ++h)
            (std::abs(r.groups[g].layer - r.groups[h].layer) <= 1 ? near : far) += 1;
    EXPECT_EQ(r.farPairsSampled, 3);
    EXPECT_EQ(r.farPairsUnmeasured, far - 3);
    EXPECT_EQ(r.pairsMeasured, near + 3);
    EXPECT_GT(r.farMeanAbsKld, 0.0);
    EXPECT_GE(r.farMaxAbsKld, r.farMeanAbsKld);
    // Exactly 3 far pairs have a term: the others read 0.
    long long farTerms = 0;
    for (std::size_t g = 0; g < r.groups.size(); ++g)
        for (std::size_t h = g + 1; h < r.groups.size(); ++h)
            if (std::abs(r.groups[g].layer - r.groups[h].layer) > 1 && r.interactionKld(Eigen::Index(g), Eigen::Index(h)) != 0)
                ++farTerms;
    EXPECT_EQ(farTerms, 3);
    EXPECT_EQ(r.toJson()["interaction"]["far_pairs_sampled"], 3);
}

TEST(Sensitivity, GradientScoreIsZeroForKeepAndRanksLikeTheMeasuredKl) {
    const CalibrationData set = smallSet(64, 4);
    const SensitivityResult r = measureSensitivity(
        fixtureModel(), set, builtinRegistries(),
        options("keep,int3:group:32:asym,int4:group:32:asym,int8:channel:sym", false, 0), {});
    ASSERT_EQ(r.gradientScore.size(), r.groups.size());
    for (std::size_t g = 0; g < r.groups.size(); ++g) {
        EXPECT_EQ(r.gradientScore[g][0], 0.0) << r.groups[g].name;
        for (std::size_t c = 1; c < 4; ++c) EXPECT_GT(r.gradientScore[g][c], 0.0) << r.groups[g].name;
        EXPECT_GT(r.gradientScore[g][1], r.gradientScore[g][3]) << r.groups[g].name; // int3 hurts more than int8
    }
    // ModelOpt's premise: the score orders (group, format) pairs as the measured KL does.
    EXPECT_GT(r.correlations().at("gradient").at("kld").get<double>(), 0.9);
}

// compute bf16: the evaluations are the bf16 models' comparison (reference and candidate with bf16
// products, through the plain comparison path), while what quantizing measures stays float32: the
// local objective (the float32 model's layer inputs), the gradient and HAWQ scores (the backward pass).
TEST(Sensitivity, Bf16ProductsEvaluateAsTheBf16ComparisonWithFloat32Proxies) {
    const CalibrationData set = smallSet();
    SensitivityOptions o = options("int4:group:32:asym", false, 1);
    const SensitivityResult f32 = measureSensitivity(fixtureModel(), set, builtinRegistries(), o, {});
    o.bf16Products = true;
    const SensitivityResult bf16 = measureSensitivity(fixtureModel(), set, builtinRegistries(), o, {});
    EXPECT_EQ(bf16.localError, f32.localError);
    EXPECT_EQ(bf16.gradientScore, f32.gradientScore);
    EXPECT_EQ(bf16.hawqScore, f32.hawqScore);
    EXPECT_EQ(bf16.bitsPerWeight, f32.bitsPerWeight);

    CausalLm reference(fixtureLm(), {});
    reference.setHooks({.bf16Products = true});
    std::vector<std::int32_t> tokens;
    for (const auto& w : set.windows) tokens.insert(tokens.end(), w.begin(), w.end());
    const ModelQuantResult q = quantizeModel(fixtureModel(), builtinRegistries(), o.candidates[0].job, {}, true);
    for (const std::size_t g : {std::size_t{0}, bf16.groups.size() - 1}) { // q/k/v of layer 0, the last down_proj
        std::map<std::string, std::vector<float>> replaced;
        for (const std::string& name : bf16.groups[g].weights) replaced[name] = q.weights.at(name);
        const CausalLm candidate(reference, std::move(replaced)); // keeps the bf16 products
        const ComparisonResult want = compareWithReference(reference, candidate, tokens, {set.ctx, 0}, {});
        EXPECT_DOUBLE_EQ(bf16.reference.nll, want.reference.meanNll);
        EXPECT_NEAR(bf16.deltaLoss[g][0], want.candidate.meanNll - want.reference.meanNll, 1e-12) << g;
        EXPECT_DOUBLE_EQ(bf16.kld[g][0], want.kld.mean) << g;
        EXPECT_DOUBLE_EQ(bf16.top1[g][0], want.kld.top1Agreement) << g;
    }
    // bf16 rounding moves the loss by a little (1.4e-4 of it on these 93 tokens).
    EXPECT_NE(bf16.reference.nll, f32.reference.nll);
    EXPECT_NEAR(bf16.reference.nll, f32.reference.nll, 1e-3 * f32.reference.nll);

    o.layerMajor = true;
    EXPECT_THROW(measureSensitivity(fixtureModel(), set, builtinRegistries(), o, {}), Error);
}

// The local objective's two forms, from XᵀX and from the input rows X, against Σ_x ‖E x‖² summed in
// long double here, for fewer and for more tokens than inputs, in both stored layouts.
TEST(Sensitivity, LocalObjectiveFromInputsAndFromTheGramMatrixAgreeWithTheSumByHand) {
    std::mt19937 rng(5);
    std::normal_distribution<float> value(0, 1);
    const Eigen::Index out = 70, in = 45;
    for (const Eigen::Index tokens : {Eigen::Index(13), Eigen::Index(130)})
        for (const bool transposed : {false, true}) {
            WeightInfo w;
            w.transposed = transposed;
            w.shape = transposed ? Shape{in, out} : Shape{out, in};
            std::vector<float> delta(static_cast<std::size_t>(out * in));
            for (float& d : delta) d = value(rng) * 0.01f;
            InputRows x(tokens, in);
            for (Eigen::Index t = 0; t < tokens; ++t)
                for (Eigen::Index i = 0; i < in; ++i) x(t, i) = value(rng);
            const auto e = [&](Eigen::Index o, Eigen::Index i) {
                return static_cast<long double>(delta[std::size_t(transposed ? i * out + o : o * in + i)]);
            };
            long double want = 0;
            for (Eigen::Index t = 0; t < tokens; ++t)
                for (Eigen::Index o = 0; o < out; ++o) {
                    long double ex = 0;
                    for (Eigen::Index i = 0; i < in; ++i) ex += e(o, i) * static_cast<long double>(x(t, i));
                    want += ex * ex;
                }
            const Eigen::MatrixXd xtx = x.transpose() * x;
            const double tolerance = 1e-12 * static_cast<double>(want);
            EXPECT_NEAR(localObjective(delta, w, xtx), static_cast<double>(want), tolerance) << tokens << transposed;
            EXPECT_NEAR(localObjective(delta, w, x), static_cast<double>(want), tolerance) << tokens << transposed;
        }
}
