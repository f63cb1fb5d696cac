// SPDX-License-Identifier: MIT
// Bit-Pragmatic against ../shared/specs/cost-models.md §6.5, its invariants, and an independent walk of the
// grid.
#include "cost/pragmatic.h"
#include "cost_test_layers.h"

#include <algorithm>
#include <cmath>
#include <deque>
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

// OX = OY = 4 (NW = W = 16), 3x3, C = 16, F = 256: 9 steps, C_BP = 144.
ConvSpec specLayer() {
    return {};
}

TEST(CostPragmatic, PowersOfTwoTakeOneCyclePerStep) {
    const auto pra = makePragmaticCostModel();
    const auto layer = makeConvLayer(
        specLayer(), [](std::int64_t i) { return std::int32_t{1} << (i % 16); }, constantCode(1));
    const LayerCost c = priceLayer(*pra, layer, {{"first_stage_bits", 4}});
    EXPECT_DOUBLE_EQ(c.baselineCycles, 144);
    EXPECT_DOUBLE_EQ(c.cycles, 9);
    EXPECT_DOUBLE_EQ(c.speedup(), 16);
    EXPECT_DOUBLE_EQ(c.potentialSpeedup, 16); // one term x B bits per pair
    // A first stage too small to cover offsets 0..15 in one cycle pays for the spread.
    EXPECT_GT(priceLayer(*pra, layer, {{"first_stage_bits", 2}}).cycles, 9);
}

TEST(CostPragmatic, AllOnesByteBinaryAndBooth) {
    const auto pra = makePragmaticCostModel();
    const auto layer = makeConvLayer(specLayer(), constantCode(255), constantCode(1));
    LayerCost c = priceLayer(*pra, layer); // paper: binary one-offsets, 8 terms
    EXPECT_EQ(c.extra["term_encoding"], "binary");
    EXPECT_DOUBLE_EQ(c.cycles, 9 * 8);
    EXPECT_DOUBLE_EQ(c.speedup(), 2);
    EXPECT_DOUBLE_EQ(c.potentialSpeedup, 2);
    c = priceLayer(*pra, layer, {{"mode", "dnnsim"}}); // DNNsim's booth: 255 = 256 - 1
    EXPECT_EQ(c.extra["term_encoding"], "dnnsim_booth");
    EXPECT_DOUBLE_EQ(c.speedup(), 8);
    EXPECT_DOUBLE_EQ(priceLayer(*pra, layer, {{"term_encoding", "naf"}}).speedup(), 8);
}

TEST(CostPragmatic, ZerosCostOneCycle) {
    const auto pra = makePragmaticCostModel();
    const LayerCost c = priceLayer(*pra, makeConvLayer(specLayer(), constantCode(0), constantCode(1)));
    EXPECT_DOUBLE_EQ(c.cycles, 9);
    EXPECT_DOUBLE_EQ(c.speedup(), 16);
    EXPECT_DOUBLE_EQ(c.potentialSpeedup, 256); // min 1 bit of B^2 per pair
}

TEST(CostPragmatic, TwoStageShifterVectors) {
    const auto cycles = [](std::vector<std::int32_t> lanes, int f) {
        PragmaticShifter s(TermEncoding::Binary, f);
        return s.cycles(lanes);
    };
    std::vector<std::int32_t> lanes(16, 0);
    lanes[0] = 1, lanes[1] = 256;
    EXPECT_EQ(cycles(lanes, 2), 2);
    EXPECT_EQ(cycles(lanes, 4), 1);
    for (int k = 0; k < 16; ++k)
        lanes[static_cast<std::size_t>(k)] = 1 << k;
    EXPECT_EQ(cycles(lanes, 2), 4);
    EXPECT_EQ(cycles(lanes, 4), 1);
    EXPECT_EQ(cycles({11, 6}, 0), 4);
    EXPECT_EQ(cycles({11, 6}, 1), 3);
}

TEST(CostPragmatic, FullyConnectedIssueQueueIsAboutOne) {
    const auto pra = makePragmaticCostModel();
    // C = F = 256, M = 1: 16 blocks of 8 cycles round-robin over 16 columns -> 16 + 7.
    const LayerCost c =
        priceLayer(*pra, makeFcLayer(256, 256, 1, 16, 16, constantCode(255), constantCode(1)));
    EXPECT_DOUBLE_EQ(c.baselineCycles, 16);
    EXPECT_DOUBLE_EQ(c.cycles, 23);
    EXPECT_EQ(c.extra["fc_rule"], "dnnsim_issue_queue");
    // M >= W rows: a 1x1 conv with M windows, 8 cycles per step of 16 rows -> 2x.
    const LayerCost rows =
        priceLayer(*pra, makeFcLayer(256, 256, 32, 16, 16, constantCode(255), constantCode(1)));
    EXPECT_DOUBLE_EQ(rows.speedup(), 2);
}

TEST(CostPragmatic, ColumnRegistersLetColumnsRunAhead) {
    const auto pra = makePragmaticCostModel();
    // Windows alternate between 1 and 8 terms from step to step (the channel block flips which windows are
    // heavy).
    ConvSpec s = specLayer();
    s.C = 32, s.KX = s.KY = 1, s.NX = s.NY = 4;
    const auto layer = makeConvLayer(
        s,
        [](std::int64_t i) {
            const std::int64_t channel = i / 16, window = i % 16;
            return ((channel / 16 + window) % 2 == 0) ? std::int32_t{255} : std::int32_t{1};
        },
        constantCode(1));
    const LayerCost lock = priceLayer(*pra, layer);
    EXPECT_DOUBLE_EQ(lock.cycles, 16); // 2 steps x 8
    const LayerCost ahead = priceLayer(*pra, layer, {{"column_registers", 1}});
    EXPECT_LT(ahead.cycles, lock.cycles);
    EXPECT_GT(lock.extra["stall_cycles"].get<double>(), 0);
}

// ---- an independent walk of the grid (lock step) ----

int referenceTwoStage(const std::vector<std::int32_t>& lanes, int f) {
    std::vector<std::deque<int>> offsets;
    for (const std::int32_t v : lanes) {
        std::deque<int> q;
        for (int k = 0; k < 31; ++k)
            if ((std::abs(v) >> k) & 1) q.push_back(k);
        offsets.push_back(q);
    }
    int cycles = 0;
    for (;;) {
        int base = 1 << 20;
        for (const auto& q : offsets)
            if (!q.empty()) base = std::min(base, q.front());
        if (base == 1 << 20) break;
        for (auto& q : offsets)
            if (!q.empty() && q.front() <= base + (1 << f) - 1) q.pop_front();
        ++cycles;
    }
    return std::max(1, cycles);
}

double referenceConvCycles(const CostLayer& l, int L, int W, int R, int T, int f) {
    const std::int64_t windows = static_cast<std::int64_t>(l.OX) * l.OY;
    const std::int64_t filterSets = ((l.F / l.groups) + R * T - 1) / (R * T);
    double total = 0;
    for (std::int64_t m = 0; m < l.M; ++m)
        for (std::int64_t first = 0; first < windows; first += W)
            for (int kx = 0; kx < l.KX; ++kx)
                for (int ky = 0; ky < l.KY; ++ky)
                    for (std::int64_t c0 = 0; c0 < l.C; c0 += L) {
                        int slowest = 0;
                        for (std::int64_t w = first; w < std::min(windows, first + W); ++w) {
                            std::vector<std::int32_t> lanes;
                            for (std::int64_t c = c0; c < std::min(l.C, c0 + L); ++c)
                                lanes.push_back(l.windowActivation(m, c, static_cast<int>(w / l.OX),
                                                                   static_cast<int>(w % l.OX), ky, kx));
                            slowest = std::max(slowest, referenceTwoStage(lanes, f));
                        }
                        total += slowest;
                    }
    return total * static_cast<double>(filterSets);
}

TEST(CostPragmatic, MatchesAnIndependentWalkOnRandomLayers) {
    const auto pra = makePragmaticCostModel();
    std::mt19937 rng(11);
    for (int trial = 0; trial < 25; ++trial) {
        ConvSpec s;
        s.C = 1 + rng() % 40, s.F = 1 + rng() % 90, s.M = 1 + rng() % 2;
        s.KX = 1 + rng() % 3, s.KY = 1 + rng() % 3, s.stride = 1 + rng() % 2, s.pad = rng() % 2;
        s.NX = s.KX + static_cast<int>(rng() % 6), s.NY = s.KY + static_cast<int>(rng() % 6);
        const int L = 1 + rng() % 8, W = 1 + rng() % 8, R = 1 + rng() % 4, T = 1 + rng() % 4, f = rng() % 5;
        const auto layer = makeConvLayer(
            s, [&rng](std::int64_t) { return static_cast<std::int32_t>(rng() % 4096); }, constantCode(1));
        const LayerCost c = priceLayer(*pra, layer,
                                       {{"lanes", L},
                                        {"columns", W},
                                        {"rows", R},
                                        {"tiles", T},
                                        {"first_stage_bits", f},
                                        {"term_encoding", "binary"}});
        EXPECT_DOUBLE_EQ(c.cycles, referenceConvCycles(layer, L, W, R, T, f)) << "trial " << trial;
    }
}

TEST(CostPragmatic, Invariants) {
    const auto pra = makePragmaticCostModel();
    std::mt19937 rng(5);
    for (int trial = 0; trial < 20; ++trial) {
        ConvSpec s;
        s.C = 1 + rng() % 48, s.F = 1 + rng() % 300;
        s.NX = s.NY = 6; // NW = 16 = W = B: the equal-peak setting the potential assumes
        const int bitsMask = static_cast<int>(rng() % 0xFFFF);
        std::vector<std::int32_t> codes(static_cast<std::size_t>(s.C * 36));
        for (auto& v : codes)
            v = static_cast<std::int32_t>(rng() % 65536) & bitsMask;
        const auto base = makeConvLayer(
            s, [&](std::int64_t i) { return codes[static_cast<std::size_t>(i)]; }, constantCode(1));
        // More terms: every code gains bits (a superset of its one-offsets).
        const std::int32_t extra = static_cast<std::int32_t>(rng() % 65536);
        const auto more = makeConvLayer(
            s, [&](std::int64_t i) { return codes[static_cast<std::size_t>(i)] | extra; }, constantCode(1));
        for (const Json& p :
             {Json{{"first_stage_bits", 4}}, Json{{"first_stage_bits", 2}},
              Json{{"mode", "dnnsim"}, {"first_stage_bits", 4}}, Json{{"column_registers", 2}}}) {
            const LayerCost a = priceLayer(*pra, base, p), b = priceLayer(*pra, more, p);
            SCOPED_TRACE(p.dump());
            if (!p.contains("mode") && p.value("first_stage_bits", 2) >= 4) {
                EXPECT_LE(a.speedup(), a.potentialSpeedup * (1 + 1e-12));
                EXPECT_GE(b.cycles, a.cycles); // F >= log2 B: cycles = most terms, monotone
            }
            if (p.contains("column_registers")) {
                EXPECT_LE(a.cycles, priceLayer(*pra, base).cycles);
            }
            EXPECT_GE(a.cycles, a.baselineCycles / 16); // at most W = 16 windows per BP cycle
            EXPECT_GT(a.energy, 0);
        }
    }
}

} // namespace
} // namespace qs::core
