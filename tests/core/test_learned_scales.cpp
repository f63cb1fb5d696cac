// SPDX-License-Identifier: MIT
// Learned scales (LSQ): fitted scales reproduce fakeQuantize bit for bit, and the gradients are LSQ's
// (Esser et al. 2020, eq. 3) written out here independently in float64: for v/s inside the grid,
// ∂v̂/∂s = round(v/s) − v/s and ∂v̂/∂v = 1; clipped, ∂v̂/∂s = the clip level and ∂v̂/∂v = 0. An element
// is clipped when it lies beyond the grid's extreme value by more than half the grid's last step
// (closer, it rounds to that value as its nearest: a min/max fit clips nothing).
#include "base/error.h"
#include "quant/fake_quant.h"
#include "quant/learned_scales.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace qs::core;

namespace {

std::vector<float> gaussian(std::size_t n, unsigned seed, float sigma = 0.05f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, sigma);
    std::vector<float> x(n);
    for (float& v : x) v = d(rng);
    return x;
}

QuantSpec spec(FormatId f, Granularity g, int group, bool sym, ScaleRule rule = ScaleRule::MinMax) {
    QuantSpec s;
    s.format = f;
    s.granularity = g;
    s.groupSize = group;
    s.symmetric = sym;
    s.scaleRule = rule;
    return s;
}

} // namespace

TEST(LearnedScales, FittedScalesGiveFakeQuantizesBits) {
    const std::int64_t rows = 7, cols = 45; // a short last group
    const std::vector<float> w = gaussian(rows * cols, 3);
    for (FormatId f : {FormatId::Int2, FormatId::Int4, FormatId::Int8, FormatId::Fp4E2M1, FormatId::Fp8E4M3,
                       FormatId::Nf4, FormatId::Log2, FormatId::Sulq})
        for (Granularity g : {Granularity::Tensor, Granularity::Channel, Granularity::Group})
            for (bool sym : {true, false})
                for (ScaleRule rule : {ScaleRule::MinMax, ScaleRule::Percentile, ScaleRule::Mse}) {
                    const QuantSpec s = spec(f, g, 16, sym, rule);
                    std::vector<float> expected(w.size()), got(w.size());
                    fakeQuantize(w.data(), rows, cols, s, expected.data());
                    const RunScales fitted = fitScales(w.data(), rows, cols, s);
                    EXPECT_EQ(fitted.params.size(), g == Granularity::Tensor ? 1u : g == Granularity::Channel ? 7u : 21u);
                    applyScales(w.data(), fitted, got.data());
                    EXPECT_EQ(got, expected) << s.label() << " rule " << static_cast<int>(rule);
                }
}

TEST(LearnedScales, GradientsAreLsqsForSymmetricAndAsymmetricIntegerGrids) {
    const std::int64_t rows = 3, cols = 40;
    const std::vector<float> w = gaussian(rows * cols, 5);
    const std::vector<float> gradQ = gaussian(rows * cols, 6, 1.0f);
    for (bool sym : {true, false}) {
        const QuantSpec s = spec(FormatId::Int3, Granularity::Group, 16, sym);
        RunScales learned = fitScales(w.data(), rows, cols, s);
        for (ScaleParams& p : learned.params) p.scale *= 0.6f; // shrunk: some weights are clipped
        std::vector<float> q(w.size()), gradW(w.size());
        applyScales(w.data(), learned, q.data());
        std::vector<double> gradLogScale;
        scaleGradients(w.data(), q.data(), gradQ.data(), learned, gradW.data(), gradLogScale);
        ASSERT_EQ(gradLogScale.size(), learned.params.size());
        // Independently: codes lo..hi around the zero point (restricted symmetric int3: -3..3; asymmetric 0..7).
        const double lo = sym ? -3 : 0, hi = sym ? 3 : 7;
        int clipped = 0;
        for (std::int64_t r = 0; r < rows; ++r)
            for (std::int64_t k = 0; k < 3; ++k) {
                const ScaleParams p = learned.params[static_cast<std::size_t>(r * 3 + k)];
                const double sc = p.scale, z = p.zero;
                double expect = 0;
                for (std::int64_t c = k * 16; c < std::min<std::int64_t>(cols, (k + 1) * 16); ++c) {
                    const std::size_t i = static_cast<std::size_t>(r * cols + c);
                    const double u = w[i] / sc; // v/s
                    double dvds, dvdv;
                    if (u + z < lo - 0.5) dvds = lo - z, dvdv = 0;
                    else if (u + z > hi + 0.5) dvds = hi - z, dvdv = 0;
                    else dvds = std::nearbyint(u) - u, dvdv = 1;
                    clipped += dvdv == 0 ? 1 : 0;
                    expect += gradQ[i] * sc * dvds; // d/dlog s = s d/ds
                    EXPECT_EQ(gradW[i], static_cast<float>(gradQ[i] * dvdv)) << i;
                }
                EXPECT_NEAR(gradLogScale[static_cast<std::size_t>(r * 3 + k)], expect, 1e-6 * (1 + std::fabs(expect)))
                    << (sym ? "sym" : "asym") << " run " << r << "," << k;
            }
        EXPECT_GT(clipped, 0) << "the shrunk scales must clip some weights";
    }
}

TEST(LearnedScales, OneTensorScaleSumsEveryRunAndFloatGridsClipAtTheirLargestValue) {
    const std::int64_t rows = 4, cols = 32;
    std::vector<float> w = gaussian(rows * cols, 8);
    w[5] = 10.0f; // far outside once the scale is shrunk
    const std::vector<float> gradQ = gaussian(rows * cols, 9, 1.0f);
    RunScales learned = fitScales(w.data(), rows, cols, spec(FormatId::Fp4E2M1, Granularity::Tensor, 0, true));
    ASSERT_EQ(learned.params.size(), 1u);
    learned.params[0].scale = 0.05f; // E2M1's largest values 4, 6: saturates at ±0.3, clips beyond ±0.35
    std::vector<float> q(w.size()), gradW(w.size());
    applyScales(w.data(), learned, q.data());
    std::vector<double> g;
    scaleGradients(w.data(), q.data(), gradQ.data(), learned, gradW.data(), g);
    ASSERT_EQ(g.size(), 1u);
    EXPECT_FLOAT_EQ(q[5], 0.3f);
    EXPECT_EQ(gradW[5], 0.0f);
    double expect = 0;
    for (std::size_t i = 0; i < w.size(); ++i) {
        const bool inside = std::fabs(w[i]) <= 0.35f;
        expect += gradQ[i] * (inside ? static_cast<double>(q[i]) - w[i] : static_cast<double>(q[i]));
        if (inside) {
            EXPECT_EQ(gradW[i], gradQ[i]) << i;
        }
    }
    EXPECT_NEAR(g[0], expect, 1e-9);
}

TEST(LearnedScales, MinMaxFitsClipNothing) {
    const std::int64_t rows = 5, cols = 64;
    const std::vector<float> w = gaussian(rows * cols, 12);
    const std::vector<float> ones(w.size(), 1.0f);
    for (FormatId f : {FormatId::Int2, FormatId::Int4, FormatId::Int8, FormatId::Fp4E2M1, FormatId::Nf4, FormatId::Log2})
        for (bool sym : {true, false}) {
            const RunScales fitted = fitScales(w.data(), rows, cols, spec(f, Granularity::Group, 16, sym));
            std::vector<float> q(w.size()), gradW(w.size());
            std::vector<double> g;
            applyScales(w.data(), fitted, q.data());
            scaleGradients(w.data(), q.data(), ones.data(), fitted, gradW.data(), g);
            EXPECT_EQ(gradW, ones) << fitted.spec.label();
        }
}

TEST(LearnedScales, FormatsWithScalesOnAFixedGridAreRefusedByName) {
    for (FormatId f : {FormatId::MxFp4, FormatId::NvFp4, FormatId::Bf16}) {
        QuantSpec s = spec(f, Granularity::Block, 0, true);
        try {
            requireLearnableScales(s, "model.layers.0.mlp.up_proj.weight");
            ADD_FAILURE() << "accepted " << s.label();
        } catch (const Error& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find(std::string(formatTraits(f).name)), std::string::npos) << what;
            EXPECT_NE(what.find("up_proj"), std::string::npos) << what;
        }
    }
    EXPECT_NO_THROW(requireLearnableScales(spec(FormatId::Int4, Granularity::Group, 32, false), "w"));
    EXPECT_NO_THROW(requireLearnableScales(spec(FormatId::Nf4, Granularity::Group, 64, true), "w"));
}
