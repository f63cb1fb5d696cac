// SPDX-License-Identifier: MIT
// Calibration (core/calib): streaming statistics against a naive two-pass computation, the
// layer-by-layer CausalLm API against forward(), and the HDF5 statistics cache.
#include "calib/calib_cache.h"
#include "calib/collect_stats.h"
#include "statistics/stats_accumulator.h"
#include "fixture_models.h"
#include "fixture_paths.h"
#include "io/npy.h"
#include "base/error.h"

#include <cmath>
#include <fstream>
#include <gtest/gtest.h>
#include <random>

using namespace qs::core;

namespace {

using qs::test::fixtureLm;
using qs::test::fixtureModel;

CalibrationData smallCalibration(int windows) {
    const Tensor t = readNpy(qs::test::tinyLlama() / "ref_calib_tokens.npy");
    std::vector<std::int32_t> ids(t.data<std::int32_t>(), t.data<std::int32_t>() + t.numel());
    return calibrationWindows(ids, 64, windows, "ref_calib_tokens.npy");
}

} // namespace

TEST(CalibStats, StreamingMatchesNaiveTwoPass) {
    constexpr int kFeatures = 12, kBatches = 5, kRows = 37;
    std::mt19937 rng(11);
    std::normal_distribution<float> n01(0.0f, 1.0f);
    std::exponential_distribution<float> expo(1.0f);
    std::vector<std::vector<float>> batches(kBatches, std::vector<float>(kRows * kFeatures));
    for (auto& b : batches)
        for (int r = 0; r < kRows; ++r)
            for (int c = 0; c < kFeatures; ++c) {
                float v = n01(rng);
                if (c == 1) v = 1000.0f + 0.01f * v;   // large mean, tiny spread: tests the shift
                if (c == 2) v = expo(rng);             // skewed, heavy tail
                if (c == 3) v = 3.0f;                  // constant
                if (c == 4) v = n01(rng) * n01(rng);   // product of normals: kurtosis 6
                b[r * kFeatures + c] = v;
            }
    LinearStatsAccumulator acc("site", kFeatures);
    for (const auto& b : batches) acc.add(b.data(), kRows, kFeatures);
    const LinearInputStats s = acc.result();
    EXPECT_EQ(s.samples, kBatches * kRows);
    EXPECT_EQ(s.features, kFeatures);

    const double n = kBatches * kRows;
    for (int c = 0; c < kFeatures; ++c) {
        double sum = 0, absSum = 0, absMax = 0;
        for (const auto& b : batches)
            for (int r = 0; r < kRows; ++r) {
                const double v = b[r * kFeatures + c];
                sum += v, absSum += std::fabs(v), absMax = std::max(absMax, std::fabs(v));
            }
        const double mean = sum / n;
        double m2 = 0, m4 = 0;
        for (const auto& b : batches)
            for (int r = 0; r < kRows; ++r) {
                const double d = b[r * kFeatures + c] - mean;
                m2 += d * d, m4 += d * d * d * d;
            }
        m2 /= n, m4 /= n;
        const double kurt = m2 > 0 ? m4 / (m2 * m2) - 3.0 : 0.0;
        EXPECT_EQ(s.absMax[c], absMax) << c;
        EXPECT_NEAR(s.absMean[c], absSum / n, 1e-12 * (1 + absSum / n)) << c;
        EXPECT_NEAR(s.mean[c], mean, 1e-12 * (1 + std::fabs(mean))) << c;
        EXPECT_NEAR(s.variance[c], m2, 1e-9 * (m2 + 1e-12)) << c;
        EXPECT_NEAR(s.kurtosis[c], kurt, 1e-8 * (1 + std::fabs(kurt))) << c;
        for (int d = 0; d < kFeatures; ++d) {
            double xtx = 0;
            for (const auto& b : batches)
                for (int r = 0; r < kRows; ++r)
                    xtx += static_cast<double>(b[r * kFeatures + c]) * b[r * kFeatures + d];
            EXPECT_NEAR(s.xtx(c, d), xtx, 1e-12 * std::fabs(xtx) + 1e-12) << c << "," << d;
        }
    }
    EXPECT_EQ(s.variance[3], 0.0);
    EXPECT_EQ(s.kurtosis[3], 0.0);
    EXPECT_GT(s.kurtosis[4], 1.0); // product of normals: excess kurtosis 6 (a sample of 185 shows less)
    // GPTQ's Hessian 2/n X^T X.
    const std::vector<float> h = s.hessianF32();
    EXPECT_FLOAT_EQ(h[0 * kFeatures + 5], static_cast<float>(2.0 / n * s.xtx(0, 5)));
    // Outliers by max |x|: channel 1 (~1000) first.
    const auto top = s.topOutlierChannels(2);
    ASSERT_EQ(top.size(), 2u);
    EXPECT_EQ(top[0], 1);
    EXPECT_EQ(s.topOutlierChannels(100).size(), static_cast<std::size_t>(kFeatures));
    EXPECT_THROW(acc.add(batches[0].data(), 1, kFeatures + 1), Error);
}

TEST(CalibLayers, LayerByLayerEqualsForwardBitForBit) {
    const CausalLm& lm = fixtureLm();
    const Tensor t = readNpy(qs::test::tinyLlama() / "ref_tokens_32.npy");
    std::vector<std::int32_t> ids;
    for (std::int64_t i = 0; i < t.numel(); ++i) ids.push_back(static_cast<std::int32_t>(t.data<std::int64_t>()[i]));
    std::vector<RowMatrixF> hidden;
    const RowMatrixF want = lm.forward(ids, &hidden);
    ASSERT_EQ(lm.numLayers(), 4);
    RowMatrixF x = lm.embed(ids);
    EXPECT_TRUE(x == hidden[0]);
    std::vector<std::string> seen;
    std::vector<std::int64_t> rows;
    const LinearInputObserver obs = [&](int layer, const LinearInputSite& site, const RowMatrixF& in) {
        seen.push_back(std::to_string(layer) + " " + site.name + " " + std::to_string(site.weights.size()));
        rows.push_back(in.rows());
    };
    for (int l = 0; l < lm.numLayers(); ++l) {
        lm.runLayer(l, x, &obs);
        EXPECT_TRUE(x == hidden[static_cast<std::size_t>(l + 1)]) << l;
    }
    EXPECT_TRUE(lm.logits(x) == want);
    ASSERT_EQ(seen.size(), 16u);
    EXPECT_EQ(seen[0], "0 model.layers.0.self_attn.q_proj 3");
    EXPECT_EQ(seen[1], "0 model.layers.0.self_attn.o_proj 1");
    EXPECT_EQ(seen[2], "0 model.layers.0.mlp.gate_proj 2");
    EXPECT_EQ(seen[3], "0 model.layers.0.mlp.down_proj 1");
    for (auto r : rows) EXPECT_EQ(r, 32);
    const auto sites = lm.layerSites(2);
    ASSERT_EQ(sites.size(), 4u);
    EXPECT_EQ(sites[0].weights[2], "model.layers.2.self_attn.v_proj.weight");
    EXPECT_EQ(sites[2].weights[1], "model.layers.2.mlp.up_proj.weight");
    EXPECT_THROW(lm.runLayer(4, x), Error);
}

TEST(CalibLayers, ModelStatsMatchLayerStatsAndTheirInputs) {
    const CausalLm& lm = fixtureLm();
    const CalibrationData data = smallCalibration(3);
    const auto all = collectModelStats(lm, data, true, {});
    ASSERT_EQ(all.size(), 16u);
    EXPECT_EQ(all[0].site, "model.layers.0.self_attn.q_proj");
    EXPECT_EQ(all[3].features, 512);
    EXPECT_EQ(all[0].samples, 3 * 64);
    // Layer 1 from its explicit inputs gives the same sums.
    std::vector<RowMatrixF> inputs;
    for (const auto& w : data.windows) {
        RowMatrixF x = lm.embed(w);
        lm.runLayer(0, x);
        inputs.push_back(x);
    }
    const auto layer1 = collectLayerStats(lm, 1, inputs, true, {});
    ASSERT_EQ(layer1.size(), 4u);
    for (std::size_t s = 0; s < 4; ++s) {
        EXPECT_EQ(layer1[s].site, all[4 + s].site);
        EXPECT_EQ((layer1[s].xtx - all[4 + s].xtx).cwiseAbs().maxCoeff(), 0.0);
        EXPECT_EQ(layer1[s].absMax, all[4 + s].absMax);
    }
}

TEST(CalibCache, RoundTripCorruptionAndKeys) {
    const auto dir = qs::test::outputDir("calib_cache");
    const CausalLm& lm = fixtureLm();
    const CalibrationData data = smallCalibration(2);
    CalibCacheOptions opts;
    opts.dir = dir;
    std::vector<std::string> warnings;
    const auto first = cachedModelStats(fixtureModel(), lm, data, true, opts, {}, &warnings);
    EXPECT_TRUE(warnings.empty());
    const std::string key = calibCacheKey(fixtureModel(), data, true);
    const auto file = dir / ("calib-" + key + ".h5");
    ASSERT_TRUE(std::filesystem::exists(file));
    const auto loaded = loadCalibStats(file, key);
    ASSERT_EQ(loaded.size(), first.size());
    for (std::size_t i = 0; i < first.size(); ++i) {
        EXPECT_EQ(loaded[i].site, first[i].site);
        EXPECT_EQ(loaded[i].samples, first[i].samples);
        EXPECT_TRUE(loaded[i].xtx == first[i].xtx);
        EXPECT_EQ(loaded[i].kurtosis, first[i].kurtosis);
        EXPECT_EQ(loaded[i].absMean, first[i].absMean);
        EXPECT_EQ(loaded[i].absPercentiles.size(),
                  static_cast<std::size_t>(first[i].features) * LinearInputStats::kAbsPercentileLevels.size());
        EXPECT_EQ(loaded[i].absPercentiles, first[i].absPercentiles);
    }
    // A cache hit computes nothing: no progress steps.
    int steps = 0;
    JobContext counting{[&](long long, long long, const std::string&) { ++steps; }, nullptr};
    cachedModelStats(fixtureModel(), lm, data, true, opts, counting, &warnings);
    EXPECT_EQ(steps, 0);
    // Different data or options: different keys; a wrong key is rejected.
    EXPECT_NE(calibCacheKey(fixtureModel(), smallCalibration(3), true), key);
    EXPECT_NE(calibCacheKey(fixtureModel(), data, false), key);
    EXPECT_THROW(loadCalibStats(file, "0000000000000000"), Error);
    // A corrupt file is ignored with a warning, recomputed and rewritten.
    std::ofstream(file, std::ios::binary | std::ios::trunc) << "not an hdf5 file";
    const auto again = cachedModelStats(fixtureModel(), lm, data, true, opts, {}, &warnings);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find(file.string()), std::string::npos) << warnings[0];
    EXPECT_TRUE(again[5].xtx == first[5].xtx);
    EXPECT_NO_THROW(loadCalibStats(file, key));
    // No temporary files are left behind.
    int files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir)) files += e.is_regular_file();
    EXPECT_EQ(files, 1);
}
