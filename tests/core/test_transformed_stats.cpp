// SPDX-License-Identifier: MIT
// Outlier statistics after a transform chain on the tiny Llama (calib.txt, 32 windows x 128 tokens):
// SmoothQuant divides each smoothed activation channel's max by its factor s_j (computed here from the
// formula), a Hadamard rotation flattens heavy-tailed channels and keeps every token's norm, and the
// result is read back from the HDF5 cache.
#include "calib/collect_stats.h"
#include "test_rotation_common.h"
#include "analysis/transformed_stats.h"

#include <cmath>
#include <fstream>
#include <gtest/gtest.h>

using namespace qs::core;
using namespace qs::test;

namespace {

CalibCacheOptions noCache() {
    CalibCacheOptions o;
    o.enabled = false;
    return o;
}

TransformedStats statsOf(const std::vector<TransformStep>& steps,
                         const CalibCacheOptions& cache = noCache()) {
    return transformedStats(tfModel(), tfRegistries().transforms, steps, &tfCalibration(), cache, {});
}

// Max |W[:, j]| over the fixture's own weights sharing one input.
std::vector<double> columnMax(const std::vector<std::string>& names) {
    std::vector<double> mx;
    for (const auto& n : names) {
        const WeightInfo& info = *tfModel().find(n);
        const auto w = tfModel().weightAsOutIn(info);
        mx.resize(static_cast<std::size_t>(info.matrixCols()), 0.0);
        for (std::int64_t r = 0; r < info.matrixRows(); ++r)
            for (std::int64_t c = 0; c < info.matrixCols(); ++c)
                mx[static_cast<std::size_t>(c)] = std::max(mx[static_cast<std::size_t>(c)],
                                                           std::fabs(double(w[r * info.matrixCols() + c])));
    }
    return mx;
}

// Mean over tokens of the squared L2 norm of a site input: sum over channels of variance + mean^2.
double meanSquaredNorm(const LinearInputStats& s) {
    double sum = 0;
    for (std::size_t j = 0; j < s.variance.size(); ++j)
        sum += s.variance[j] + s.mean[j] * s.mean[j];
    return sum;
}

std::string layerPrefix(int l) {
    return "model.layers." + std::to_string(l) + ".";
}

TEST(TransformedStats, EmptyChainIsTheModelItself) {
    const auto s = statsOf({});
    EXPECT_TRUE(s.applied.empty());
    ASSERT_EQ(s.linears.size(), 4u * 7u); // q k v o gate up down per layer
    ASSERT_EQ(s.inputs.size(), 4u * 4u);
    const auto* down = s.linear("model.layers.1.mlp.down_proj.weight");
    ASSERT_NE(down, nullptr);
    EXPECT_EQ(down->site, "model.layers.1.mlp.down_proj");
    ASSERT_EQ(down->inAbsMax.size(), 512u);
    ASSERT_EQ(down->outAbsMax.size(), 192u);
    const auto mx = columnMax({down->weight});
    for (std::size_t j = 0; j < mx.size(); ++j)
        EXPECT_EQ(down->inAbsMax[j], mx[j]);
    ASSERT_NE(s.input("model.layers.1.mlp.down_proj"), nullptr);
    EXPECT_EQ(s.input("model.layers.1.mlp.down_proj")->samples, 32 * 128);
}

TEST(TransformedStats, SmoothQuantDividesEachActivationChannelMaxByItsFactor) {
    const double alpha = 0.6;
    const auto before = statsOf({});
    const auto after = statsOf({{"smoothquant", {{"alpha", alpha}}}});
    ASSERT_EQ(after.inputs.size(), before.inputs.size());
    EXPECT_EQ(after.applied.at(0).at("name"), "smoothquant");
    double worst = 0;
    for (int l = 0; l < 4; ++l) {
        const std::string p = layerPrefix(l);
        // Sites with their own per-channel factor (o_proj's are tied across the heads sharing a KV head).
        const std::vector<std::pair<std::string, std::vector<std::string>>> sites{
            {p + "self_attn.q_proj",
             {p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight", p + "self_attn.v_proj.weight"}},
            {p + "mlp.gate_proj", {p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"}},
            {p + "mlp.down_proj", {p + "mlp.down_proj.weight"}}};
        for (const auto& [site, weights] : sites) {
            const LinearInputStats* x0 = before.input(site);
            const LinearInputStats* x1 = after.input(site);
            ASSERT_TRUE(x0 && x1) << site;
            const auto wmax = columnMax(weights);
            const auto* w1 = after.linear(weights[0]);
            ASSERT_NE(w1, nullptr);
            for (std::size_t j = 0; j < wmax.size(); ++j) {
                const double s = std::pow(x0->absMax[j], alpha) / std::pow(wmax[j], 1 - alpha);
                const double expect = x0->absMax[j] / s;
                const double rel = std::fabs(x1->absMax[j] - expect) / expect;
                worst = std::max(worst, rel);
                ASSERT_LT(rel, 1e-5) << site << " channel " << j << ": " << x1->absMax[j] << " vs " << expect;
                // The weight takes the factor: its column max grows by s (first weight of the site).
                const double wexpect = before.linear(weights[0])->inAbsMax[j] * s;
                ASSERT_NEAR(w1->inAbsMax[j], wexpect, 1e-5 * wexpect) << weights[0] << " column " << j;
            }
        }
    }
    std::printf("[ smooth   ] worst relative error of max|x|/s: %.3g\n", worst);
}

TEST(TransformedStats, HadamardRotationFlattensChannelsAndKeepsTokenNorms) {
    const auto before = statsOf({});
    const auto after = statsOf({{"rotate", {{"rotation", "hadamard"}}}});
    ASSERT_EQ(after.inputs.size(), before.inputs.size());
    double maxBefore = 0, maxAfter = 0;
    for (std::size_t i = 0; i < before.inputs.size(); ++i) {
        const auto& k0 = before.inputs[i].kurtosis;
        const auto& k1 = after.inputs[i].kurtosis;
        const double b = *std::max_element(k0.begin(), k0.end()) + 3,
                     a = *std::max_element(k1.begin(), k1.end()) + 3;
        EXPECT_DOUBLE_EQ(activationKurtosis(before.inputs[i]), b);
        std::printf("[ rotate   ] %-36s max channel kurtosis %9.2f -> %9.2f\n", before.inputs[i].site.c_str(),
                    b, a);
        if (b > 10) { // the sites with outlier channels
            EXPECT_LT(a, b / 2) << before.inputs[i].site;
        }
        maxBefore = std::max(maxBefore, b);
        maxAfter = std::max(maxAfter, a);
    }
    EXPECT_LT(maxAfter, maxBefore);

    // The rotation's input basis starts from the norm-folded model (gamma -> 1, W diag(gamma)): build that
    // model here and compare every site's mean squared token norm, which an orthogonal Q keeps.
    std::map<std::string, std::vector<float>> folded;
    for (int l = 0; l < 4; ++l) {
        const std::string p = layerPrefix(l);
        for (const auto& [norm, weights] :
             {std::pair{p + "input_layernorm.weight",
                        std::vector<std::string>{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}},
              std::pair{p + "post_attention_layernorm.weight",
                        std::vector<std::string>{"mlp.gate_proj", "mlp.up_proj"}}}) {
            const auto gamma = tfModel().weightAsOutIn(*tfModel().find(norm));
            folded[norm] = std::vector<float>(gamma.size(), 1.0f);
            for (const auto& w : weights) {
                const WeightInfo& info = *tfModel().find(p + w + ".weight");
                auto m = tfModel().weightAsOutIn(info);
                for (std::int64_t r = 0; r < info.matrixRows(); ++r)
                    for (std::int64_t c = 0; c < info.matrixCols(); ++c)
                        m[r * info.matrixCols() + c] *= gamma[c];
                folded[info.name] = std::move(m);
            }
        }
    }
    const CausalLm foldedLm(tfLm(), std::move(folded));
    const auto reference = collectModelStats(foldedLm, tfCalibration(), false, {});
    ASSERT_EQ(reference.size(), after.inputs.size());
    double worst = 0;
    for (std::size_t i = 0; i < reference.size(); ++i) {
        const double r = meanSquaredNorm(reference[i]), a = meanSquaredNorm(after.inputs[i]);
        EXPECT_NEAR(a, r, 1e-4 * r) << reference[i].site;
        worst = std::max(worst, std::fabs(a - r) / r);
    }
    std::printf(
        "[ rotate   ] max channel kurtosis over sites %.2f -> %.2f; worst relative change of the mean "
        "squared token norm %.3g\n",
        maxBefore, maxAfter, worst);
}

TEST(TransformedStats, ReadsTheCacheInsteadOfRecomputing) {
    CalibCacheOptions cache;
    cache.dir = outputDir("transformed_stats_cache");
    const std::vector<TransformStep> steps{{"rotate", {}}};
    std::vector<std::string> warnings;
    const auto first =
        transformedStats(tfModel(), tfRegistries().transforms, steps, &tfCalibration(), cache, {}, &warnings);
    EXPECT_TRUE(warnings.empty());
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(cache.dir))
        if (e.path().string().find("-inputs") == std::string::npos) files.push_back(e.path());
    ASSERT_EQ(files.size(), 1u);

    // Doctored numbers in the cache file come back: the second call reads, it does not recompute.
    const std::string key =
        transformedStatsKey(tfModel(), tfRegistries().transforms, steps, &tfCalibration());
    TransformedStats doctored = loadTransformedStats(files[0], key);
    ASSERT_EQ(doctored.linears.size(), first.linears.size());
    ASSERT_EQ(doctored.inputs.size(), first.inputs.size());
    EXPECT_EQ(doctored.inputs[5].absMax, first.inputs[5].absMax);
    EXPECT_NEAR(doctored.linears[3].kurtosis, first.linears[3].kurtosis, 1e-6 * first.linears[3].kurtosis);
    doctored.linears[3].kurtosis = 123.0;
    saveTransformedStats(files[0], key, doctored);
    const auto second =
        transformedStats(tfModel(), tfRegistries().transforms, steps, &tfCalibration(), cache, {}, &warnings);
    EXPECT_EQ(second.linears[3].kurtosis, 123.0);

    // Another parameter is another key.
    EXPECT_NE(transformedStatsKey(tfModel(), tfRegistries().transforms, {{"rotate", {{"rotation_seed", 1}}}},
                                  &tfCalibration()),
              key);
    // A corrupt file is a warning and a recomputation, never an error.
    std::ofstream(files[0], std::ios::trunc) << "not hdf5";
    const auto third =
        transformedStats(tfModel(), tfRegistries().transforms, steps, &tfCalibration(), cache, {}, &warnings);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find(files[0].string()), std::string::npos) << warnings[0];
    EXPECT_NEAR(third.linears[3].kurtosis, first.linears[3].kurtosis, 1e-9);
    EXPECT_THROW(loadTransformedStats(files[0].string() + ".missing", key), Error);
}

TEST(TransformedStats, BadChainsAreClearErrors) {
    try {
        statsOf({{"nosuch", {}}});
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("nosuch"), std::string::npos) << e.what();
    }
    EXPECT_THROW(statsOf({{"rotate", {{"rotation", "diagonal"}}}}), Error);
    // SmoothQuant without data cannot compute its factors.
    EXPECT_THROW(
        transformedStats(tfModel(), tfRegistries().transforms, {{"smoothquant", {}}}, nullptr, noCache(), {}),
        Error);
    // Rotation without data: weights only.
    const auto w =
        transformedStats(tfModel(), tfRegistries().transforms, {{"rotate", {}}}, nullptr, noCache(), {});
    EXPECT_EQ(w.linears.size(), 28u);
    EXPECT_TRUE(w.inputs.empty());
}

} // namespace
