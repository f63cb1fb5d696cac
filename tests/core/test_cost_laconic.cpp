// SPDX-License-Identifier: MIT
// Laconic against ../shared/specs/cost-models.md §7.5, its invariants, and an independent walk of the grid.
#include "cost/laconic.h"
#include "cost_test_layers.h"

#include <algorithm>
#include <bit>
#include <gtest/gtest.h>
#include <random>

namespace qs::core {
namespace {

using Json = nlohmann::json;
using test::constantCode;
using test::ConvSpec;
using test::makeConvLayer;
using test::makeFcLayer;
using test::priceLayer;

// OX = OY = 4 (NW = W = 16), 3x3, C = 16, F = 256: 9 steps on 16 tiles, C_BP = 144.
ConvSpec specLayer() {
    return {};
}

TEST(CostLaconic, PowersOfTwoTakeOneCyclePerStep) {
    const auto lac = makeLaconicCostModel();
    const auto pow2 = [](std::int64_t i) { return std::int32_t{1} << (i % 15); };
    const LayerCost c = priceLayer(*lac, makeConvLayer(specLayer(), pow2, [](std::int64_t i) {
        return static_cast<std::int32_t>((i % 2 ? -1 : 1) * (1 << (i % 7)));
    }));
    EXPECT_DOUBLE_EQ(c.baselineCycles, 144);
    EXPECT_DOUBLE_EQ(c.cycles, 9);
    EXPECT_DOUBLE_EQ(c.speedup(), 16);
    EXPECT_DOUBLE_EQ(c.potentialSpeedup, 256);
}

TEST(CostLaconic, AllOnesBytesBinaryAndBooth) {
    const auto lac = makeLaconicCostModel();
    const auto layer = makeConvLayer(specLayer(), constantCode(255), constantCode(255));
    LayerCost c = priceLayer(*lac, layer, {{"term_encoding", "binary"}});
    EXPECT_DOUBLE_EQ(c.cycles, 9 * 64);
    EXPECT_DOUBLE_EQ(c.speedup(), 0.25);
    EXPECT_DOUBLE_EQ(c.potentialSpeedup, 4);
    c = priceLayer(*lac, layer, {{"term_encoding", "dnnsim_booth"}});
    EXPECT_DOUBLE_EQ(c.speedup(), 4);
    EXPECT_DOUBLE_EQ(priceLayer(*lac, layer, {{"mode", "dnnsim"}}).speedup(), 4); // auto = DNNsim's booth
    EXPECT_DOUBLE_EQ(priceLayer(*lac, layer).speedup(), 4);                       // paper: NAF, 256 - 1
}

TEST(CostLaconic, AZeroOperandCostsOneCycle) {
    const auto lac = makeLaconicCostModel();
    for (const auto& [a, w] : {std::pair{0, 255}, std::pair{255, 0}, std::pair{0, 0}}) {
        const LayerCost c = priceLayer(*lac, makeConvLayer(specLayer(), constantCode(a), constantCode(w)),
                                       {{"term_encoding", "binary"}});
        EXPECT_DOUBLE_EQ(c.cycles, 9);
        EXPECT_DOUBLE_EQ(c.speedup(), 16);
        EXPECT_DOUBLE_EQ(c.potentialSpeedup, 256);
    }
}

TEST(CostLaconic, TheSlowestTileSetsEachWindowSet) {
    const auto lac = makeLaconicCostModel();
    // Filter 0 (tile 0) has 255s, every other filter 1s: tile 0 takes 64 cycles a step, the rest wait.
    const auto layer = makeConvLayer(specLayer(), constantCode(255), [](std::int64_t i) {
        return i < 16 * 9 ? std::int32_t{255} : std::int32_t{1};
    });
    const LayerCost c = priceLayer(*lac, layer, {{"term_encoding", "binary"}});
    EXPECT_DOUBLE_EQ(c.cycles, 9 * 64);
    EXPECT_DOUBLE_EQ(c.extra["stall_cycles"].get<double>(), 15 * 9 * (64 - 8));
}

TEST(CostLaconic, SpatialCompositionInDnnsimMode) {
    const auto lac = makeLaconicCostModel();
    ConvSpec s = specLayer();
    s.weightBits = 8;
    // 0x0F01: 5 binary terms as one value; as two 8-bit blocks 4 (0x0F) and 1 (0x01).
    const auto layer = makeConvLayer(s, constantCode(0x0F01), constantCode(1));
    const Json p = {{"term_encoding", "binary"}, {"pe_width", 8}};
    const LayerCost paper = priceLayer(*lac, layer, p);
    EXPECT_DOUBLE_EQ(paper.cycles, 9 * 5);
    EXPECT_EQ(paper.extra["rows_per_filter"], 1);
    Json d = p;
    d["mode"] = "dnnsim";
    const LayerCost dnnsim = priceLayer(*lac, layer, d);
    // A 16-bit activation on 8-bit PEs takes two rows: 8 filters per tile, FS = 2; 4 cycles per step.
    EXPECT_EQ(dnnsim.extra["rows_per_filter"], 2);
    EXPECT_DOUBLE_EQ(dnnsim.cycles, 2 * 9 * 4);
    EXPECT_DOUBLE_EQ(priceLayer(*lac, layer, {{"term_encoding", "binary"}, {"mode", "dnnsim"}}).cycles,
                     9 * 5);
}

TEST(CostLaconic, WeightInterfaceAndBaselineNote) {
    const auto lac = makeLaconicCostModel();
    const LayerCost c = priceLayer(*lac, makeConvLayer(specLayer(), constantCode(255), constantCode(255)),
                                   {{"term_encoding", "binary"}});
    EXPECT_DOUBLE_EQ(c.extra["weight_interface_wires"].get<double>(), 16.0 * 16 * 16 * 16);
    // 9 steps, each reading a weight row per tile, over 9 * 64 cycles.
    EXPECT_DOUBLE_EQ(c.extra["weight_bits_per_cycle"].get<double>(), 16.0 * 16 * 16 * 16 / 64);
    EXPECT_TRUE(c.extra.contains("baseline_note"));
}

TEST(CostLaconic, FullyConnectedIssueQueuePerTile) {
    const auto lac = makeLaconicCostModel();
    // C = F = 256, M = 1: per tile 16 blocks of max(1, 2 x 1) = 2 cycles (binary 3 = 2 terms) -> 16 + 1.
    const LayerCost c = priceLayer(*lac, makeFcLayer(256, 256, 1, 16, 16, constantCode(3), constantCode(1)),
                                   {{"term_encoding", "binary"}});
    EXPECT_DOUBLE_EQ(c.baselineCycles, 16);
    EXPECT_DOUBLE_EQ(c.cycles, 17);
}

// ---- an independent walk: per step the max over every (window, filter, lane) pair ----

double referenceCycles(const CostLayer& l, int L, int W, int R, int T) {
    const std::int64_t windows = static_cast<std::int64_t>(l.OX) * l.OY;
    const std::int64_t vf = l.F / l.groups, cg = l.C / l.groups;
    const std::int64_t sets = (vf + R * T - 1) / (R * T);
    const auto terms = [](std::int32_t v) { return std::popcount(static_cast<unsigned>(std::abs(v))); };
    double total = 0;
    for (std::int64_t s = 0; s < sets; ++s)
        for (std::int64_t m = 0; m < l.M; ++m)
            for (std::int64_t first = 0; first < windows; first += W) {
                std::int64_t slowest = 0;
                for (int t = 0; t < T; ++t) {
                    std::int64_t sum = 0;
                    bool any = false;
                    for (int kx = 0; kx < l.KX; ++kx)
                        for (int ky = 0; ky < l.KY; ++ky)
                            for (std::int64_t c0 = 0; c0 < l.C; c0 += L) {
                                int step = 1;
                                for (std::int64_t v = (s * T + t) * R; v < std::min(vf, (s * T + t + 1) * R);
                                     ++v) {
                                    any = true;
                                    for (std::int64_t c = c0; c < std::min(l.C, c0 + L); ++c) {
                                        const std::int64_t f = (c / cg) * vf + v;
                                        const int tw = terms(l.weight(f, c % cg, ky, kx));
                                        for (std::int64_t w = first; w < std::min(windows, first + W); ++w) {
                                            const int ta =
                                                terms(l.windowActivation(m, c, static_cast<int>(w / l.OX),
                                                                         static_cast<int>(w % l.OX), ky, kx));
                                            step = std::max(step, ta * tw);
                                        }
                                    }
                                }
                                sum += step;
                            }
                    if (any) slowest = std::max(slowest, sum);
                }
                total += static_cast<double>(slowest);
            }
    return total;
}

TEST(CostLaconic, MatchesAnIndependentWalkOnRandomLayers) {
    const auto lac = makeLaconicCostModel();
    std::mt19937 rng(3);
    for (int trial = 0; trial < 25; ++trial) {
        ConvSpec s;
        s.groups = 1 + static_cast<int>(rng() % 2);
        s.C = s.groups * (1 + rng() % 20), s.F = s.groups * (1 + rng() % 40), s.M = 1 + rng() % 2;
        s.KX = 1 + rng() % 3, s.KY = 1 + rng() % 3, s.stride = 1 + rng() % 2, s.pad = rng() % 2;
        s.NX = s.KX + static_cast<int>(rng() % 5), s.NY = s.KY + static_cast<int>(rng() % 5);
        const int L = 1 + rng() % 8, W = 1 + rng() % 8, R = 1 + rng() % 4, T = 1 + rng() % 4;
        const auto code = [&rng](std::int64_t) {
            return rng() % 3 == 0 ? 0 : static_cast<std::int32_t>(rng() % 512) - 256;
        };
        const auto layer = makeConvLayer(
            s, [&rng](std::int64_t) { return static_cast<std::int32_t>(rng() % 300); }, code);
        const LayerCost c = priceLayer(
            *lac, layer,
            {{"lanes", L}, {"columns", W}, {"rows", R}, {"tiles", T}, {"term_encoding", "binary"}});
        EXPECT_DOUBLE_EQ(c.cycles, referenceCycles(layer, L, W, R, T)) << "trial " << trial;
    }
}

TEST(CostLaconic, Invariants) {
    const auto lac = makeLaconicCostModel();
    std::mt19937 rng(9);
    for (int trial = 0; trial < 12; ++trial) {
        ConvSpec s;
        s.C = 1 + rng() % 40, s.F = 1 + rng() % 300;
        s.NX = s.NY = 6; // NW = W = B
        std::vector<std::int32_t> a(static_cast<std::size_t>(s.C * 36)),
            w(static_cast<std::size_t>(s.F * s.C * 9));
        for (auto& v : a)
            v = static_cast<std::int32_t>(rng() % 4096);
        for (auto& v : w)
            v = static_cast<std::int32_t>(rng() % 512) - 256;
        const std::int32_t extra = static_cast<std::int32_t>(rng() % 4096);
        const auto base = makeConvLayer(
            s, [&](std::int64_t i) { return a[static_cast<std::size_t>(i)]; },
            [&](std::int64_t i) { return w[static_cast<std::size_t>(i)]; });
        const auto more = makeConvLayer(
            s, [&](std::int64_t i) { return a[static_cast<std::size_t>(i)] | extra; },
            [&](std::int64_t i) { return w[static_cast<std::size_t>(i)]; });
        for (const char* encoding : {"binary", "naf", "dnnsim_booth"}) {
            SCOPED_TRACE(encoding);
            const LayerCost x = priceLayer(*lac, base, {{"term_encoding", encoding}});
            EXPECT_LE(x.speedup(), x.potentialSpeedup);
            EXPECT_GE(x.cycles, x.baselineCycles / 16);
            EXPECT_GT(x.energy, 0);
            if (std::string(encoding) == "binary") { // a superset of one-bits: never fewer terms
                EXPECT_GE(priceLayer(*lac, more, {{"term_encoding", encoding}}).cycles, x.cycles);
            }
        }
    }
}

} // namespace
} // namespace qs::core
