// SPDX-License-Identifier: MIT
// Bit-Tactical: the offline weight scheduler's test vectors and invariants (../shared/specs/cost-models.md
// §8.2, §8.5) and the cost model's back ends (§8.3, §10) against closed forms and an independent walk.
#include "base/error.h"
#include "cost/tactical.h"
#include "cost/tactical_schedule.h"
#include "cost_test_layers.h"

#include <algorithm>
#include <bit>
#include <gtest/gtest.h>
#include <random>
#include <set>
#include <vector>

using namespace qs::core;

namespace {

/// One filter, L = 16, H = 2, D = 5, L shape (the spec's §8.5 setting).
TacticalScheduleOptions paperOptions() {
    return {};
}

/// Tf x 16 codes with lane i of row t set to `value(t, i)`.
template <class F> std::vector<std::int32_t> oneFilter(int Tf, F value) {
    std::vector<std::int32_t> rows(static_cast<std::size_t>(Tf) * 16);
    for (int t = 0; t < Tf; ++t)
        for (int i = 0; i < 16; ++i)
            rows[static_cast<std::size_t>(t) * 16 + i] = value(t, i);
    return rows;
}

int keptRows(int Tf, const std::vector<std::int32_t>& rows, TacticalScheduleOptions o = paperOptions()) {
    (void)Tf;
    return scheduleWeightSet(rows, 16, o).keptRows();
}

} // namespace

TEST(TacticalSchedule, AllZeroWeightsKeepOneRowInThree) {
    const auto zero = [](int, int) { return 0; };
    EXPECT_EQ(keptRows(6, oneFilter(6, zero)), 2); // 3x
    EXPECT_EQ(keptRows(7, oneFilter(7, zero)), 2); // DNNsim floors: the trailing zero row vanishes
    EXPECT_EQ(keptRows(2, oneFilter(2, zero)), 0); // ... and a short all-zero set vanishes entirely
    TacticalScheduleOptions clamp;
    clamp.keepOneRow = true;
    EXPECT_EQ(keptRows(2, oneFilter(2, zero), clamp), 1);
    EXPECT_EQ(keptRows(6, oneFilter(6, zero), clamp), 2); // the clamp only lifts 0 to 1
}

TEST(TacticalSchedule, SpecVectors) {
    EXPECT_EQ(keptRows(6, oneFilter(6, [](int t, int) { return t % 2 == 0 ? 3 : 0; })), 3); // 2x
    EXPECT_EQ(keptRows(6, oneFilter(6, [](int t, int i) { return t % 3 == i % 3 ? 1 : 0; })),
              2);                                                                         // 3x = H + 1
    EXPECT_EQ(keptRows(6, oneFilter(6, [](int t, int i) { return t * 16 + i + 1; })), 6); // dense: 1x
}

TEST(TacticalSchedule, DenseScheduleKeepsEveryWeightInPlace) {
    const auto rows = oneFilter(4, [](int t, int i) { return t * 16 + i + 1; });
    const auto s = scheduleWeightSet(rows, 16, paperOptions());
    EXPECT_EQ(s.promotions, 0);
    EXPECT_EQ(s.weights, rows);
    for (int t = 0; t < 4; ++t)
        for (int i = 0; i < 16; ++i)
            EXPECT_EQ(s.originRow(t, i) * 16 + s.originColumn(t, i), t * 16 + i);
}

// The slot with the fewest candidates goes first: lane 1 (one candidate, (1,0)) before lane 0 (two:
// (1,0) and (1,3)); lane order with first candidates would leave 9 behind and keep 2 rows.
TEST(TacticalSchedule, FewestCandidatesFirst) {
    TacticalScheduleOptions o;
    o.lanes = 4;
    o.lookahead = 1;
    o.lookaside = 1;
    const std::vector<std::int32_t> rows = {0, 0, 5, 5, //
                                            7, 0, 0, 9};
    const auto s = scheduleWeightSet(rows, 4, o);
    ASSERT_EQ(s.keptRows(), 1);
    EXPECT_EQ((std::vector<std::int32_t>(s.weights.begin(), s.weights.end())),
              (std::vector<std::int32_t>{9, 7, 5, 5}));
    EXPECT_EQ(s.originRow(0, 0), 1);
    EXPECT_EQ(s.originColumn(0, 0), 3);
    EXPECT_EQ(s.originRow(0, 1), 1);
    EXPECT_EQ(s.originColumn(0, 1), 0);
    EXPECT_EQ(s.promotions, 2);
}

// Lookaside wraps within a filter's own lanes, never into the neighbour filter's.
TEST(TacticalSchedule, LookasideWrapsWithinTheFilter) {
    TacticalScheduleOptions o;
    o.lanes = 4;
    o.lookahead = 1;
    o.lookaside = 1;
    // Filter 0 = lanes 0..3, filter 1 = lanes 4..7. Filter 0's lane 0 sees (1,3) by wrapping; filter 1's
    // lane 4 would see (1,7), not (1,3).
    const std::vector<std::int32_t> rows = {0, 1, 1, 1, 0, 1, 1, 1, //
                                            0, 0, 0, 4, 0, 0, 0, 0};
    const auto s = scheduleWeightSet(rows, 8, o);
    ASSERT_EQ(s.keptRows(), 1);
    EXPECT_EQ(s.weight(0, 0), 4);
    EXPECT_EQ(s.weight(0, 4), 0);
}

TEST(TacticalSchedule, TShapeWindow) {
    TacticalScheduleOptions o;
    o.shape = SearchShape::TShape;
    // Lane 5 zero at t = 0; the only non-zero weight of row 1.. is at (2, 7) = (t+2, lane+2): inside the T.
    auto rows = oneFilter(3, [](int t, int i) { return t == 0 && i != 5 ? 1 : 0; });
    rows[2 * 16 + 7] = 9;
    auto s = scheduleWeightSet(rows, 16, o);
    EXPECT_EQ(s.keptRows(), 1);
    EXPECT_EQ(s.weight(0, 5), 9);
    // (t+1, lane-3) is the T's extra entry; (t+1, lane-4) lies outside it.
    rows = oneFilter(2, [](int t, int i) { return t == 0 && i != 5 ? 1 : 0; });
    rows[16 + 2] = 9;
    EXPECT_EQ(scheduleWeightSet(rows, 16, o).weight(0, 5), 9);
    rows[16 + 2] = 0;
    rows[16 + 1] = 9;
    s = scheduleWeightSet(rows, 16, o);
    EXPECT_EQ(s.keptRows(), 2);
    EXPECT_EQ(s.weight(0, 5), 0);
}

TEST(TacticalSchedule, RejectsBadShapes) {
    TacticalScheduleOptions o;
    o.lookaside = 16;
    const std::vector<std::int32_t> rows(32, 1);
    EXPECT_THROW(scheduleWeightSet(rows, 16, o), Error);
    EXPECT_THROW(scheduleWeightSet(rows, 12, paperOptions()), Error);
}

namespace {

/// True when a weight at original (r, c) may be promoted to slot (t, c') under options o (§8.2).
bool inWindow(int r, int c, int t, int cNew, const TacticalScheduleOptions& o) {
    if (r == t && c == cNew) return true;
    const int L = o.lanes;
    if (c / L != cNew / L) return false;
    const int h = r - t;
    const int aside = ((c % L) - (cNew % L) + L) % L; // candidate lane = slot lane + aside (mod L)
    if (h >= 1 && h <= o.lookahead && aside == 0) return true;
    if (o.shape == SearchShape::LShape) return h == 1 && aside >= L - o.lookaside;
    if (h >= 1 && h <= o.lookahead && (aside == L - h || aside == h)) return true;
    return h == 1 && aside == L - o.lookahead - 1;
}

} // namespace

TEST(TacticalSchedule, RandomSetsKeepEveryWeightOnceWithinTheWindow) {
    std::mt19937 rng(7);
    for (int trial = 0; trial < 300; ++trial) {
        TacticalScheduleOptions o;
        o.lanes = 4 + static_cast<int>(rng() % 13);
        o.shape = rng() % 3 == 0 ? SearchShape::TShape : SearchShape::LShape;
        o.lookahead = 1 + static_cast<int>(rng() % std::min(4, o.lanes - 2));
        o.lookaside = static_cast<int>(rng() % o.lanes);
        o.keepOneRow = rng() % 2 == 0;
        const int filters = 1 + static_cast<int>(rng() % 3);
        const int width = filters * o.lanes;
        const int Tf = 1 + static_cast<int>(rng() % 12);
        const double density = (rng() % 101) / 100.0;
        std::bernoulli_distribution nz(density);
        std::vector<std::int32_t> rows(static_cast<std::size_t>(Tf) * width);
        for (auto& v : rows)
            v = nz(rng) ? 1 + static_cast<int>(rng() % 200) : 0;

        const auto s = scheduleWeightSet(rows, width, o);
        const int K = s.keptRows();
        SCOPED_TRACE(testing::Message() << "trial " << trial << " L=" << o.lanes << " H=" << o.lookahead
                                        << " D=" << o.lookaside << " Tf=" << Tf << " K=" << K);
        // At most H rows are skipped between kept ones: K >= floor(Tf / (H+1)); never more rows than Tf.
        EXPECT_LE(K, Tf);
        EXPECT_GE(K, Tf / (o.lookahead + 1));
        if (o.keepOneRow) {
            EXPECT_GE(K, 1);
        }
        // Each filter's non-zero weights need K * L slots at least.
        for (int f = 0; f < filters; ++f) {
            int nonZero = 0;
            for (int t = 0; t < Tf; ++t)
                for (int i = 0; i < o.lanes; ++i)
                    nonZero += rows[static_cast<std::size_t>(t) * width + f * o.lanes + i] != 0;
            EXPECT_GE(K * o.lanes, nonZero);
        }
        // Every non-zero weight is scheduled exactly once, with its own code, within the search window.
        std::set<int> seen;
        for (int t = 0; t < K; ++t)
            for (int c = 0; c < width; ++c) {
                const int r = s.originRow(t, c), oc = s.originColumn(t, c);
                EXPECT_TRUE(seen.insert(r * width + oc).second);
                EXPECT_EQ(s.weight(t, c), rows[static_cast<std::size_t>(r) * width + oc]);
                if (s.weight(t, c) != 0) {
                    EXPECT_TRUE(inWindow(r, oc, s.keptRowIndex[static_cast<std::size_t>(t)], c, o));
                }
            }
        for (std::size_t i = 0; i < rows.size(); ++i)
            if (rows[i] != 0) {
                EXPECT_TRUE(seen.count(static_cast<int>(i))) << "weight " << i << " dropped";
            }
        // Deterministic.
        EXPECT_EQ(scheduleWeightSet(rows, width, o).origins, s.origins);
    }
}

// ---- the cost model ----

namespace {

using Json = nlohmann::json;
using qs::test::constantCode;
using qs::test::ConvSpec;
using qs::test::makeConvLayer;
using qs::test::makeFcLayer;
using qs::test::priceLayer;

/// One filter over 16 * Tf channels (FC, M = 1): row t of its schedule is channel block t, lane i channel 16t
/// + i.
template <class F> CostLayer oneFilterFc(int Tf, F value) {
    return makeFcLayer(16 * Tf, 1, 1, 16, 16, constantCode(3), [value](std::int64_t c) {
        return static_cast<std::int32_t>(value(static_cast<int>(c / 16), static_cast<int>(c % 16)));
    });
}

LayerCost frontEnd(const CostLayer& layer, Json p = Json::object()) {
    p["backend"] = "frontend";
    return priceLayer(*makeTacticalCostModel(), layer, p);
}

} // namespace

TEST(CostTactical, FrontEndSpecVectors) {
    const auto zero = [](int, int) { return 0; };
    LayerCost c = frontEnd(oneFilterFc(6, zero));
    EXPECT_DOUBLE_EQ(c.baselineCycles, 6);
    EXPECT_DOUBLE_EQ(c.cycles, 2); // 3x
    EXPECT_DOUBLE_EQ(c.extra["kept_rows"].get<double>(), 2);
    EXPECT_DOUBLE_EQ(frontEnd(oneFilterFc(7, zero)).cycles, 2);
    EXPECT_DOUBLE_EQ(frontEnd(oneFilterFc(2, zero)).cycles, 1); // paper: at least one row
    EXPECT_DOUBLE_EQ(frontEnd(oneFilterFc(2, zero), {{"mode", "dnnsim"}}).cycles,
                     0); // DNNsim: the set vanishes
    c = frontEnd(oneFilterFc(6, [](int t, int) { return t % 2 == 0 ? 5 : 0; }));
    EXPECT_DOUBLE_EQ(c.speedup(), 2);
    EXPECT_DOUBLE_EQ(c.potentialSpeedup, 2); // half the pairs are effectual
    EXPECT_DOUBLE_EQ(frontEnd(oneFilterFc(6, [](int t, int i) { return t % 3 == i % 3 ? 1 : 0; })).speedup(),
                     3);
    c = frontEnd(oneFilterFc(6, [](int, int) { return 7; }));
    EXPECT_DOUBLE_EQ(c.speedup(), 1);
    EXPECT_DOUBLE_EQ(c.potentialSpeedup, 1);
    EXPECT_DOUBLE_EQ(c.energy, c.baselineEnergy);
}

TEST(CostTactical, LayerLayoutFollowsKernelThenChannelBlocks) {
    ConvSpec s;
    s.C = 20, s.F = 3, s.KX = 3, s.KY = 2, s.NX = 5, s.NY = 4;
    const auto layer =
        makeConvLayer(s, constantCode(1), [](std::int64_t i) { return static_cast<std::int32_t>(i + 1); });
    const GridLayout layout = gridLayout(layer, TileGrid{});
    const TacticalLayerSchedule sched = scheduleLayerWeights(layer, layout, 3, {});
    ASSERT_EQ(sched.sets.size(), 1u);
    EXPECT_EQ(sched.originalRows(), 3 * 2 * 2);
    // Row 5 = (kx 1, ky 0, channel block 1); lane 2 of filter 1 = channel 18.
    const WeightSlot slot = sched.slot(0, 5, 16 + 2);
    EXPECT_EQ(slot.filter, 1);
    EXPECT_EQ(slot.kx, 1);
    EXPECT_EQ(slot.ky, 0);
    EXPECT_EQ(slot.channel, 18);
    EXPECT_FALSE(slot.padding);
    EXPECT_TRUE(sched.slot(0, 5, 16 + 4).padding); // channel 20 >= C
    // Every slot holds the weight of its origin; the last channel block's padding lanes (zeros) take weights
    // promoted from later rows, so even dense weights keep fewer than Tf rows here (C = 20 is no multiple of
    // L).
    const auto& set = sched.sets[0];
    EXPECT_LT(set.keptRows(), 12);
    for (int r = 0; r < set.keptRows(); ++r)
        for (int c = 0; c < set.width; ++c) {
            const WeightSlot w = sched.scheduledSlot(0, r, c);
            EXPECT_EQ(set.weight(r, c), w.padding ? 0 : layer.weight(w.filter, w.channel, w.ky, w.kx));
        }
}

TEST(CostTactical, DenseWeightsAndSixteenBitActivationsGiveOne) {
    const auto tcl = makeTacticalCostModel();
    ConvSpec s; // NW = 16, 3x3, C = 16, F = 256
    const auto layer = makeConvLayer(s, constantCode(65535), constantCode(3));
    for (const char* backend : {"frontend", "tclp", "tcle"}) {
        SCOPED_TRACE(backend);
        const LayerCost c = priceLayer(*tcl, layer, {{"backend", backend}, {"first_stage_bits", 4}});
        EXPECT_DOUBLE_EQ(c.baselineCycles, 144);
        EXPECT_DOUBLE_EQ(c.speedup(), 1);
        EXPECT_DOUBLE_EQ(c.potentialSpeedup, 1);
    }
    // More filters than one pass holds (600 > R * T): tiles take 3 or 2 sets, the slowest sets the pace.
    s.F = 600;
    const LayerCost c =
        priceLayer(*tcl, makeConvLayer(s, constantCode(65535), constantCode(3)), {{"backend", "frontend"}});
    EXPECT_DOUBLE_EQ(c.baselineCycles, 144 * 3);
    EXPECT_DOUBLE_EQ(c.speedup(), 1);
}

TEST(CostTactical, BackEndsOnByteActivations) {
    const auto tcl = makeTacticalCostModel();
    ConvSpec s;
    // Kernel positions (kx * 3 + ky) odd hold zero weights: 9 rows, 4 of them zero -> 5 kept.
    const auto layer = makeConvLayer(s, constantCode(255), [](std::int64_t i) {
        const std::int64_t kernel = i % 9; // [F][C][KY][KX]: ky * 3 + kx
        const int ky = static_cast<int>(kernel / 3), kx = static_cast<int>(kernel % 3);
        return (kx * 3 + ky) % 2 == 1 ? std::int32_t{0} : std::int32_t{1};
    });
    LayerCost c = priceLayer(*tcl, layer, {{"backend", "frontend"}});
    EXPECT_DOUBLE_EQ(c.cycles, 16 * 5);
    EXPECT_DOUBLE_EQ(c.extra["schedule_speedup"].get<double>(), 9.0 / 5);
    c = priceLayer(*tcl, layer, {{"backend", "tclp"}});
    EXPECT_DOUBLE_EQ(c.cycles, 5 * 8); // 8-bit precision per kept row
    EXPECT_DOUBLE_EQ(c.speedup(), 144.0 / 40);
    c = priceLayer(*tcl, layer, {{"backend", "tcle"}});
    EXPECT_EQ(c.extra["term_encoding"], "binary");
    EXPECT_DOUBLE_EQ(c.cycles, 5 * 8); // 8 one-offsets
    c = priceLayer(*tcl, layer, {{"backend", "tcle"}, {"mode", "dnnsim"}});
    EXPECT_DOUBLE_EQ(c.cycles, 5 * 2); // DNNsim's booth: 256 - 1
}

TEST(CostTactical, ZeroWeightsFetchActivationsOnlyInDnnsimMode) {
    const auto tcl = makeTacticalCostModel();
    // One filter, Tf = 6, all zero weights but lane 0 of row 0; activations 255 everywhere except channel 0
    // (= 1).
    auto layer = oneFilterFc(6, [](int t, int i) { return t == 0 && i == 0 ? 1 : 0; });
    for (std::size_t c = 0; c < layer.activations.codes.size(); ++c)
        layer.activations.codes[c] = c == 0 ? 1 : 255;
    // Paper: the kept rows fetch only the one non-zero weight's activation (1 bit); DNNsim fetches all 16
    // lanes. Two kept rows (t = 0 and t = 3) through the issue queue: 1 bit, then nothing fetched (1 cycle),
    // issued at 0, 1.
    EXPECT_DOUBLE_EQ(priceLayer(*tcl, layer, {{"backend", "tclp"}}).cycles, 2);
    const LayerCost d = priceLayer(*tcl, layer, {{"backend", "tclp"}, {"mode", "dnnsim"}});
    EXPECT_DOUBLE_EQ(d.extra["kept_rows"].get<double>(), 2);
    EXPECT_DOUBLE_EQ(d.cycles, 1 + 8);
}

namespace {

// An independent walk of TCLp / TCLe in lock step (CR = 0, no LSB trim, unsigned activations, F >= log2 B): a
// kept row costs, over its window set, the widest activation (TCLp) or most one-offsets (TCLe) among the
// slots holding a non-zero weight, at least 1; tiles run their sets on their own, the slowest tile is the
// layer.
double referenceCycles(const CostLayer& l, int W, int T, bool precision) {
    const GridLayout layout = gridLayout(l, TileGrid{16, W, 16, T, 16});
    const int fps = static_cast<int>(std::min<std::int64_t>(16, (l.F / l.groups + T - 1) / T));
    TacticalScheduleOptions o;
    o.keepOneRow = true;
    const TacticalLayerSchedule sched = scheduleLayerWeights(l, layout, fps, o);
    const std::int64_t windows = static_cast<std::int64_t>(l.OX) * l.OY;
    double slowest = 0;
    for (int t = 0; t < T; ++t) {
        double tile = 0;
        for (std::int64_t m = 0; m < l.M; ++m)
            for (std::int64_t first = 0; first < windows; first += W)
                for (std::size_t s = static_cast<std::size_t>(t); s < sched.sets.size();
                     s += static_cast<std::size_t>(T)) {
                    const auto& set = sched.sets[s];
                    for (int r = 0; r < set.keptRows(); ++r) {
                        int step = 1;
                        for (int c = 0; c < set.width; ++c) {
                            if (set.weight(r, c) == 0) continue;
                            const WeightSlot w = sched.scheduledSlot(s, r, c);
                            for (std::int64_t win = first; win < std::min(windows, first + W); ++win) {
                                const auto a = static_cast<unsigned>(
                                    l.windowActivation(m, w.channel, static_cast<int>(win / l.OX),
                                                       static_cast<int>(win % l.OX), w.ky, w.kx));
                                step = std::max(step, precision ? static_cast<int>(std::bit_width(a))
                                                                : std::popcount(a));
                            }
                        }
                        tile += step;
                    }
                }
        slowest = std::max(slowest, tile);
    }
    return slowest;
}

} // namespace

TEST(CostTactical, MatchesAnIndependentWalkOnRandomLayers) {
    const auto tcl = makeTacticalCostModel();
    std::mt19937 rng(21);
    for (int trial = 0; trial < 16; ++trial) {
        ConvSpec s;
        s.groups = 1 + static_cast<int>(rng() % 2);
        s.C = s.groups * (1 + rng() % 24), s.F = s.groups * (1 + rng() % 40), s.M = 1 + rng() % 2;
        s.KX = 1 + rng() % 3, s.KY = 1 + rng() % 3, s.stride = 1 + rng() % 2, s.pad = rng() % 2;
        s.NX = s.KX + static_cast<int>(rng() % 5), s.NY = s.KY + static_cast<int>(rng() % 5);
        const int W = 1 + rng() % 8, T = 1 + rng() % 4;
        const double density = (rng() % 100) / 100.0;
        std::bernoulli_distribution nz(density);
        const auto layer = makeConvLayer(
            s, [&rng](std::int64_t) { return static_cast<std::int32_t>(rng() % 300); },
            [&](std::int64_t) { return nz(rng) ? static_cast<std::int32_t>(1 + rng() % 9) : 0; });
        const Json grid = {{"columns", W}, {"tiles", T}, {"first_stage_bits", 4}};
        SCOPED_TRACE(testing::Message() << "trial " << trial);
        Json p = grid;
        p["backend"] = "tclp";
        EXPECT_DOUBLE_EQ(priceLayer(*tcl, layer, p).cycles, referenceCycles(layer, W, T, true));
        p["backend"] = "tcle";
        EXPECT_DOUBLE_EQ(priceLayer(*tcl, layer, p).cycles, referenceCycles(layer, W, T, false));
    }
}

TEST(CostTactical, Invariants) {
    const auto tcl = makeTacticalCostModel();
    std::mt19937 rng(4);
    for (int trial = 0; trial < 8; ++trial) {
        ConvSpec s;
        // C a multiple of L: otherwise the schedule also fills the last channel block's padding lanes, a gain
        // over the padded baseline that the potential (real pairs only) does not count.
        s.C = 16 * (1 + rng() % 2), s.F = 1 + rng() % 40;
        s.NX = s.NY = 6; // NW = W = B
        const double density = (rng() % 100) / 100.0;
        std::bernoulli_distribution nz(density);
        std::vector<std::int32_t> a(static_cast<std::size_t>(s.C * 36)),
            w(static_cast<std::size_t>(s.F * s.C * 9));
        for (auto& v : a)
            v = static_cast<std::int32_t>(rng() % 4096);
        for (auto& v : w)
            v = nz(rng) ? static_cast<std::int32_t>(1 + rng() % 100) : 0;
        const auto sparse = makeConvLayer(
            s, [&](std::int64_t i) { return a[static_cast<std::size_t>(i)]; },
            [&](std::int64_t i) { return w[static_cast<std::size_t>(i)]; });
        const auto dense = makeConvLayer(
            s, [&](std::int64_t i) { return a[static_cast<std::size_t>(i)]; },
            [&](std::int64_t i) { return w[static_cast<std::size_t>(i)] + 1; });
        const std::int32_t extra = static_cast<std::int32_t>(rng() % 4096);
        const auto wider = makeConvLayer(
            s, [&](std::int64_t i) { return a[static_cast<std::size_t>(i)] | extra; },
            [&](std::int64_t i) { return w[static_cast<std::size_t>(i)]; });
        SCOPED_TRACE(testing::Message() << "trial " << trial << " density " << density);
        // Front end: zero pairs cost nothing in the potential either, so the bound always holds.
        const LayerCost f = priceLayer(*tcl, sparse, {{"backend", "frontend"}});
        if (f.potentialSpeedup > 0) {
            EXPECT_LE(f.speedup(), f.potentialSpeedup * (1 + 1e-12));
        }
        EXPECT_LE(f.speedup(), 3.0 + 1e-12); // at most H + 1
        EXPECT_GE(f.speedup(), 1.0 - 1e-12);
        for (const char* backend : {"tclp", "tcle"}) {
            SCOPED_TRACE(backend);
            const Json p = {{"backend", backend}, {"first_stage_bits", 4}};
            // With no zero weights the potential's "1 per zero pair" is out of play: speedup <= potential.
            const LayerCost d = priceLayer(*tcl, dense, p);
            EXPECT_LE(d.speedup(), d.potentialSpeedup * (1 + 1e-12));
            // Wider activations (a superset of their bits) never take fewer cycles.
            const LayerCost x = priceLayer(*tcl, sparse, p), y = priceLayer(*tcl, wider, p);
            EXPECT_GE(y.cycles, x.cycles);
            // Column registers only let columns run ahead.
            Json cr = p;
            cr["column_registers"] = 2;
            EXPECT_LE(priceLayer(*tcl, sparse, cr).cycles, x.cycles);
            EXPECT_GT(x.energy, 0);
        }
    }
}
