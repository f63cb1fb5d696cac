// SPDX-License-Identifier: MIT
// The bit-parallel baseline and the precision-based bit-serial designs (Stripes, Dynamic Stripes / DPRed, Loom)
// against the closed forms and vectors of ../shared/specs/cost-models.md §1, §3.5, §4.5, §5.5, their
// invariants, and an independent brute-force walk of the grid on small random layers.
#include "base/error.h"
#include "cost/bit_grid.h"
#include "cost/bitparallel.h"
#include "cost/dpred.h"
#include "cost/loom.h"
#include "cost/stripes.h"
#include "cost_test_layers.h"

#include <cmath>
#include <gtest/gtest.h>
#include <random>

namespace qs::core {
namespace {

using Json = nlohmann::json;
using test::CodeFn;
using test::ConvSpec;
using test::makeFcLayer;

CodeFn constant(std::int32_t v) {
    return test::constantCode(v);
}

// The spec's Stripes example: OX = OY = 4, 3x3, C = 16, F = 256, 8-bit operands.
ConvSpec eightBitSpec() {
    ConvSpec s;
    s.activationBits = s.weightBits = 8;
    return s;
}

CostLayer makeConv(const ConvSpec& s, const CodeFn& activation, const CodeFn& weight) {
    return test::makeConvLayer(s, activation, weight);
}

LayerCost price(const CostModel& model, const CostLayer& layer, const Json& given = Json::object()) {
    return test::priceLayer(model, layer, given);
}

// ---- §1 bit-parallel baseline ----

TEST(CostBitSerial, BitParallelClosedFormAndSpeedupOne) {
    const auto bp = makeBitParallelCostModel();
    ConvSpec s = eightBitSpec(); // OX = OY = 4, 3x3, C = 16, F = 256
    const LayerCost c = price(*bp, makeConv(s, constant(1), constant(1)));
    EXPECT_DOUBLE_EQ(c.baselineCycles, 16 * 9);
    EXPECT_DOUBLE_EQ(c.speedup(), 1.0);
    EXPECT_DOUBLE_EQ(c.potentialSpeedup, 1.0);
    EXPECT_DOUBLE_EQ(c.energy, c.baselineEnergy);
    EXPECT_GT(c.energy, 0.0);
    EXPECT_DOUBLE_EQ(c.extra["utilisation"].get<double>(), 1.0);
    // FC: M * CB * FS.
    const LayerCost fc = price(*bp, makeFcLayer(100, 300, 3, 8, 8, constant(1), constant(1)));
    EXPECT_DOUBLE_EQ(fc.cycles, 3 * 7 * 2);
    EXPECT_FALSE(bp->needsActivations());
}

// ---- §3 Stripes ----

TEST(CostBitSerial, StripesVectorsOfTheSpec) {
    const auto str = makeStripesCostModel();
    ConvSpec s = eightBitSpec(); // Pa = 8 from the quantizer
    LayerCost c = price(*str, makeConv(s, constant(3), constant(1)));
    EXPECT_DOUBLE_EQ(c.baselineCycles, 144);
    EXPECT_DOUBLE_EQ(c.cycles, 72);
    EXPECT_DOUBLE_EQ(c.speedup(), 2.0);
    EXPECT_DOUBLE_EQ(c.potentialSpeedup, 2.0); // B / Pa
    EXPECT_EQ(c.extra["fc_rule"], "conv");
    // OX = OY = 3: NW = 9 < W, edge under-utilisation.
    s.NX = s.NY = 5;
    c = price(*str, makeConv(s, constant(3), constant(1)));
    EXPECT_DOUBLE_EQ(c.baselineCycles, 81);
    EXPECT_DOUBLE_EQ(c.cycles, 72);
    EXPECT_DOUBLE_EQ(c.speedup(), 1.125);
    // FC C = F = 256, M = 1: 16 + 7 through the issue queue.
    c = price(*str, makeFcLayer(256, 256, 1, 8, 8, constant(3), constant(1)));
    EXPECT_DOUBLE_EQ(c.baselineCycles, 16);
    EXPECT_DOUBLE_EQ(c.cycles, 23);
    EXPECT_EQ(c.extra["fc_rule"], "dnnsim_issue_queue");
}

TEST(CostBitSerial, StripesFcQueueClosedFormAndFcAsConv) {
    const auto str = makeStripesCostModel();
    // §3.3: C = FS * M * CB + Pa - 1 for Pa <= W (M = 2, CB = 7, FS = 2).
    LayerCost c = price(*str, makeFcLayer(100, 300, 2, 8, 8, constant(1), constant(1)));
    EXPECT_DOUBLE_EQ(c.cycles, 2 * 2 * 7 + 8 - 1);
    // Pa > W columns: blocks wait for their column (W = 4, Pa = 8).
    c = price(*str, makeFcLayer(16 * 8, 16, 1, 8, 8, constant(1), constant(1)), {{"columns", 4}});
    // Blocks 0..3 issue at 0..3; block k >= 4 waits for block k-4: issues at 8, 9, 10, 11; ends 19.
    EXPECT_DOUBLE_EQ(c.cycles, 19);
    EXPECT_GT(c.extra["stall_cycles"].get<double>(), 0.0);
    // §15: M >= W rows are a 1x1 conv with NW = M windows: WS * CB * Pa * FS.
    c = price(*str, makeFcLayer(100, 300, 40, 8, 8, constant(1), constant(1)));
    EXPECT_EQ(c.extra["fc_rule"], "conv_1x1");
    EXPECT_DOUBLE_EQ(c.cycles, 3 * 7 * 8 * 2);
    EXPECT_DOUBLE_EQ(c.baselineCycles, 40 * 7 * 2);
}

TEST(CostBitSerial, StripesPrecisionSourcesAndPeWidth) {
    const auto str = makeStripesCostModel();
    ConvSpec s = eightBitSpec();
    const CostLayer l = makeConv(
        s, [](std::int64_t i) { return static_cast<std::int32_t>(i % 101); }, constant(1));
    // Observed: max code 100 needs 7 bits.
    LayerCost c = price(*str, l, {{"precision_source", "observed"}});
    EXPECT_EQ(c.extra["activation_precision"], 7);
    EXPECT_DOUBLE_EQ(c.cycles, 9 * 7);
    // 16-bit weights on an 8-bit PE take two rows per filter: twice the filter sets.
    s.weightBits = 16;
    c = price(*str, makeConv(s, constant(1), constant(1)), {{"pe_width", 8}});
    EXPECT_EQ(c.extra["rows_per_filter"], 2);
    EXPECT_DOUBLE_EQ(c.cycles, 9 * 8 * 2);
}

// ---- §4 Dynamic Stripes / DPRed ----

TEST(CostBitSerial, DpredOne255PerGroupEqualsStripesAtEight) {
    const auto dp = makeDpredCostModel();
    const auto str = makeStripesCostModel();
    ConvSpec s = eightBitSpec();
    // Each group (one window's 16 lanes = channels) holds one 255 (channel 0), the rest < 16.
    const CostLayer l = makeConv(
        s,
        [](std::int64_t i) {
            const auto channel = static_cast<std::int32_t>((i / 36) % 16);
            return channel == 0 ? 255 : channel;
        },
        constant(1));
    const LayerCost d = price(*dp, l), st = price(*str, l);
    EXPECT_DOUBLE_EQ(d.extra["activation_precision"].get<double>(), 8.0);
    EXPECT_DOUBLE_EQ(d.cycles, st.cycles);
}

TEST(CostBitSerial, DpredBinaryActivationsReachSixteen) {
    const auto dp = makeDpredCostModel();
    ConvSpec s = eightBitSpec();
    s.NX = s.NY = 10; // OX = OY = 8: NW = 64, a multiple of W
    const CostLayer l = makeConv(
        s, [](std::int64_t i) { return static_cast<std::int32_t>((i * 7) % 3 == 0); }, constant(1));
    const LayerCost c = price(*dp, l);
    EXPECT_DOUBLE_EQ(c.speedup(), 16.0);
    // Zero groups: 1 cycle unsigned (16x); two's complement signed tensors pay the sign bit (8x), sign-magnitude not.
    const CostLayer zeros = makeConv(s, constant(0), constant(1));
    EXPECT_DOUBLE_EQ(price(*dp, zeros).speedup(), 16.0);
    CostLayer signedZeros = zeros;
    signedZeros.activations.isSigned = true;
    EXPECT_DOUBLE_EQ(price(*dp, signedZeros).speedup(), 8.0);
    EXPECT_DOUBLE_EQ(price(*dp, signedZeros, {{"precision_form", "sign_magnitude"}}).speedup(), 16.0);
}

TEST(CostBitSerial, DpredTrimAndGroupSize) {
    const auto dp = makeDpredCostModel();
    ConvSpec s = eightBitSpec();
    s.KX = s.KY = 1, s.NX = 16, s.NY = 1; // 16 windows, one step per channel block
    // Window w holds 8 << (w % 2) in every lane: groups {8} and {16} per window.
    const CostLayer l = makeConv(
        s, [](std::int64_t i) { return static_cast<std::int32_t>(8 << ((i % 16) % 2)); }, constant(1));
    EXPECT_DOUBLE_EQ(price(*dp, l).cycles, 5);                                           // leading bit only: 16 -> 5
    EXPECT_DOUBLE_EQ(price(*dp, l, {{"trim_lsb", true}}).cycles, 1);                     // per window {8} or {16}: 1
    EXPECT_DOUBLE_EQ(price(*dp, l, {{"trim_lsb", true}, {"precision_group", 32}}).cycles, 2); // {8, 16} -> 2
}

TEST(CostBitSerial, ColumnRegistersLetGroupsRunAhead) {
    // §4.5: group A 8,1,8,1...; group B 1,8,1,8... CR = 0: 8 per step; CR >= 1: 4.5 per step.
    ColumnSync lockStep(2, 0), runAhead(2, 1), runAhead3(2, 3);
    for (int step = 0; step < 8; ++step) {
        const std::vector<int> cycles = step % 2 == 0 ? std::vector<int>{8, 1} : std::vector<int>{1, 8};
        lockStep.step(cycles);
        runAhead.step(cycles);
        runAhead3.step(cycles);
    }
    EXPECT_EQ(lockStep.cycles(), 64);
    EXPECT_EQ(lockStep.stallCycles(), 56);
    EXPECT_EQ(runAhead.cycles(), 36);
    EXPECT_EQ(runAhead3.cycles(), 36);
    // DNNsim's rule: a group finished at or before the oldest register waits until oldest + 1.
    ColumnSync edge(2, 1);
    for (const auto& cycles : {std::vector<int>{1, 1}, std::vector<int>{0, 5}, std::vector<int>{5, 0}})
        edge.step(cycles);
    EXPECT_EQ(edge.cycles(), 7);
    EXPECT_EQ(edge.stallCycles(), 2);

    // Through the model: windows 0 and 1 alternate 255 / 1 across channel blocks.
    const auto dp = makeDpredCostModel();
    ConvSpec s = eightBitSpec();
    s.KX = s.KY = 1, s.NX = 2, s.NY = 1, s.C = 16 * 8;
    const CostLayer l = makeConv(
        s,
        [](std::int64_t i) {
            const std::int64_t window = i % 2, channel = i / 2;
            return (channel / 16 + window) % 2 == 0 ? 255 : 1;
        },
        constant(1));
    EXPECT_DOUBLE_EQ(price(*dp, l).cycles, 64);
    EXPECT_DOUBLE_EQ(price(*dp, l, {{"column_registers", 1}}).cycles, 36);
}

TEST(CostBitSerial, DpredFootprintOfTheGroupEncoding) {
    const auto dp = makeDpredCostModel();
    ConvSpec s = eightBitSpec(); // C = 16: one group of 16 channels per position
    const CostLayer l = makeConv(s, constant(1), constant(3));
    const LayerCost c = price(*dp, l);
    const double activations = 1.0 * 16 * 6 * 6, weights = 256.0 * 16 * 9;
    // Activations unsigned 1 -> 1 bit; weights signed 3 -> 3 bits; header ceil(log2 16) = 4 bits per group of 16.
    EXPECT_DOUBLE_EQ(c.extra["activation_bytes_compressed"].get<double>(), activations / 16 * (4 + 16 * 1) / 8);
    EXPECT_DOUBLE_EQ(c.extra["weight_bytes_compressed"].get<double>(), weights / 16 * (4 + 16 * 3) / 8);
    EXPECT_DOUBLE_EQ(c.extra["activation_bytes_uncompressed"].get<double>(), activations);
    EXPECT_DOUBLE_EQ(c.extra["weight_bytes_uncompressed"].get<double>(), weights);
    EXPECT_LT(c.extra["footprint_ratio"].get<double>(), 1.0);
    // Channel runs, not memory order: C = 20 gives runs of 16 and 4.
    OperandCodes op;
    op.codes.assign(2 * 20 * 3, 1);
    op.isSigned = false;
    EXPECT_DOUBLE_EQ(compressedBytes(op, 20, 3, 16, 16, true), 2 * 3 * ((4 + 16) + (4 + 4)) / 8.0);
}

TEST(CostBitSerial, DpredWeightsAndActivationsVariant) {
    const auto dp = makeDpredCostModel();
    ConvSpec s = eightBitSpec();
    s.NX = s.NY = 10;
    // Activations need 8 bits, weights 3 (signed 3): 256 / 24 against the equal-peak engine.
    const CostLayer l = makeConv(s, constant(255), constant(3));
    const LayerCost c = price(*dp, l, {{"variant", "weights_activations"}});
    EXPECT_NEAR(c.speedup(), 256.0 / 24.0, 1e-9);
    EXPECT_NEAR(c.potentialSpeedup, 256.0 / 24.0, 1e-9);
}

// ---- §5 Loom ----

CostLayer loomLayer(std::int32_t activation, int weightBits, std::int32_t weight = 1) {
    ConvSpec s = eightBitSpec();
    s.NX = s.NY = 10; // NW = 64
    s.C = 32;
    s.weightBits = weightBits;
    s.activationBits = 16;
    return makeConv(s, constant(activation), constant(weight));
}

TEST(CostBitSerial, LoomVectorsOfTheSpec) {
    const auto lm = makeLoomCostModel();
    EXPECT_DOUBLE_EQ(price(*lm, loomLayer(255, 8)).speedup(), 4.0);    // Pa = Pw = 8
    EXPECT_DOUBLE_EQ(price(*lm, loomLayer(15, 8)).speedup(), 8.0);     // Pa = 4, Pw = 8
    EXPECT_DOUBLE_EQ(price(*lm, loomLayer(65535, 16)).speedup(), 1.0); // Pa = Pw = 16
    // PSB = 2, Pa = 7, Pw = 8: 8 * ceil(7/2) = 32 cycles per step against 128: 4.0 (4.57 at PSB = 1).
    const LayerCost psb2 = price(*lm, loomLayer(127, 8), {{"serial_bits", 2}});
    EXPECT_DOUBLE_EQ(psb2.speedup(), 4.0);
    EXPECT_NEAR(price(*lm, loomLayer(127, 8)).speedup(), 256.0 / 56.0, 1e-12);
    EXPECT_NEAR(psb2.potentialSpeedup, 256.0 / 56.0, 1e-12);
    EXPECT_THROW(price(*lm, loomLayer(127, 8), {{"serial_bits", 3}}), Error);
    // Dynamic weights: the codes' precision (signed 3 -> 3 bits) instead of the layer's 8.
    EXPECT_DOUBLE_EQ(price(*lm, loomLayer(255, 8, 3), {{"dynamic_weights", true}}).speedup(), 256.0 / 24.0);
    // Observed static Pw: the same 3 bits.
    EXPECT_DOUBLE_EQ(price(*lm, loomLayer(255, 8, 3), {{"precision_source", "observed"}}).speedup(), 256.0 / 24.0);
}

TEST(CostBitSerial, LoomTilesDriftWithinAWindowSet) {
    // §5.2: tiles sum their steps per window set; the set costs the slowest tile, not the slowest per step.
    // Tile 0's filters are wide (8 bits) in channel block 0 and 1 bit in block 1; tile 1's the other way round.
    ConvSpec s = eightBitSpec();
    s.KX = s.KY = 1, s.NX = 16, s.NY = 1, s.C = 32, s.F = 32;
    s.weightsSigned = false;
    const CostLayer l = makeConv(s, constant(255), [](std::int64_t i) {
        const std::int64_t filter = i / 32, channel = i % 32;
        return (filter / 16 == channel / 16) ? 255 : 1;
    });
    const LayerCost c = price(*makeLoomCostModel(), l, {{"dynamic_weights", true}});
    EXPECT_DOUBLE_EQ(c.cycles, 8 * 8 + 8 * 1);   // not 2 * 64 (lock step per step), not 144 (tiles summed)
    EXPECT_DOUBLE_EQ(c.baselineCycles, 2 * 256); // two steps at B^2
    EXPECT_DOUBLE_EQ(c.extra["stall_cycles"].get<double>(), 0.0);
}

TEST(CostBitSerial, LoomFcPaperAndDnnsimRules) {
    const auto lm = makeLoomCostModel();
    const CostLayer fc = makeFcLayer(256, 512, 1, 16, 8, constant(255), constant(1));
    const LayerCost paper = price(*lm, fc);
    EXPECT_DOUBLE_EQ(paper.speedup(), 2.0); // Pw = 8: C_BPeq * 8 / 16
    EXPECT_EQ(paper.extra["fc_rule"], "paper_pw_over_b");
    const LayerCost dnnsim = price(*lm, fc, {{"mode", "dnnsim"}});
    EXPECT_EQ(dnnsim.extra["fc_rule"], "dnnsim_issue_queue");
    EXPECT_EQ(dnnsim.extra["mode"], "dnnsim");
    // DNNsim's queue: 16 blocks of 64 cycles on 16 columns, twice (FS = 2): 16 * 2 + 63 cycles.
    EXPECT_DOUBLE_EQ(dnnsim.cycles, 16 * 2 + 63);
    EXPECT_DOUBLE_EQ(dnnsim.baselineCycles, 16 * 2 * 16);
}

// ---- properties ----

std::mt19937 rng(20240611);

CostLayer randomConv(bool multiplesOfGrid, int maxBits) {
    ConvSpec s = eightBitSpec();
    std::uniform_int_distribution<int> pick(0, 1 << 20);
    s.C = multiplesOfGrid ? 16 * (1 + pick(rng) % 2) : 1 + pick(rng) % 40;
    s.F = multiplesOfGrid ? 256 : 1 + pick(rng) % 600;
    s.KX = s.KY = 1 + 2 * (pick(rng) % 2);
    s.stride = multiplesOfGrid ? 1 : 1 + pick(rng) % 2;
    s.pad = multiplesOfGrid ? 0 : pick(rng) % 2;
    s.M = 1 + pick(rng) % 2;
    if (multiplesOfGrid)
        s.NX = s.NY = 8 + s.KX - 1; // OX = OY = 8: NW = 64
    else
        s.NX = s.KX + pick(rng) % 9, s.NY = s.KY + pick(rng) % 7;
    // Skewed codes: mostly small, a few wide.
    std::vector<std::int32_t> codes(static_cast<std::size_t>(s.M * s.C * s.NX * s.NY));
    for (auto& v : codes)
        v = static_cast<std::int32_t>(pick(rng) % (1 << (1 + pick(rng) % maxBits)));
    std::uniform_int_distribution<int> w(-127, 127);
    std::vector<std::int32_t> weights(static_cast<std::size_t>(s.F * s.C * s.KX * s.KY));
    for (auto& v : weights)
        v = w(rng) >> (pick(rng) % 6);
    return makeConv(
        s, [&codes](std::int64_t i) { return codes[static_cast<std::size_t>(i)]; },
        [&weights](std::int64_t i) { return weights[static_cast<std::size_t>(i)]; });
}

CostLayer doubled(CostLayer l) {
    for (auto& v : l.activations.codes)
        v *= 2;
    for (auto& v : l.weights.codes)
        v *= 2;
    return l;
}

TEST(CostBitSerial, MorePrecisionNeverFewerCycles) {
    const auto dp = makeDpredCostModel();
    const auto lm = makeLoomCostModel();
    const auto str = makeStripesCostModel();
    for (int trial = 0; trial < 12; ++trial) {
        const CostLayer l = randomConv(trial % 2 == 0, 10);
        const CostLayer wider = doubled(l); // one more bit everywhere (leading-bit precisions)
        for (const Json& p : {Json::object(), Json{{"column_registers", 2}}, Json{{"variant", "weights_activations"}}})
            EXPECT_LE(price(*dp, l, p).cycles, price(*dp, wider, p).cycles) << trial << p.dump();
        for (const Json& p : {Json::object(), Json{{"dynamic_weights", true}}, Json{{"serial_bits", 2}}})
            EXPECT_LE(price(*lm, l, p).cycles, price(*lm, wider, p).cycles) << trial << p.dump();
        CostLayer narrow = l;
        double previous = 0;
        for (int bits = 1; bits <= 16; ++bits) {
            narrow.activations.bits = bits;
            const double cycles = price(*str, narrow).cycles;
            EXPECT_GE(cycles, previous);
            previous = cycles;
        }
    }
}

TEST(CostBitSerial, SpeedupNeverAbovePotentialInPaperMode) {
    // Holds when windows and channels fill the grid (edge losses fall on the design only otherwise).
    const auto dp = makeDpredCostModel();
    const auto lm = makeLoomCostModel();
    const auto str = makeStripesCostModel();
    for (int trial = 0; trial < 8; ++trial) {
        const CostLayer l = randomConv(true, 12);
        for (const CostModel* m : {dp.get(), lm.get(), str.get()}) {
            const LayerCost c = price(*m, l);
            EXPECT_LE(c.speedup(), c.potentialSpeedup * (1 + 1e-12)) << m->name() << " " << trial;
            EXPECT_GE(c.speedup(), 1.0) << m->name();
        }
        const LayerCost both = price(*dp, l, {{"variant", "weights_activations"}});
        EXPECT_LE(both.speedup(), both.potentialSpeedup * (1 + 1e-12));
        const LayerCost dyn = price(*lm, l, {{"dynamic_weights", true}, {"serial_bits", 4}});
        EXPECT_LE(dyn.speedup(), dyn.potentialSpeedup * (1 + 1e-12));
    }
}

TEST(CostBitSerial, SixteenBitsEverywhereIsSpeedupOne) {
    ConvSpec s = eightBitSpec();
    s.NX = s.NY = 10;
    s.C = 32;
    s.activationBits = s.weightBits = 16;
    s.activationsSigned = true;
    // Two's complement 16-bit extremes need all 16 bits in every group.
    const CostLayer l = makeConv(
        s, [](std::int64_t i) { return i % 2 ? -32768 : 32767; },
        [](std::int64_t i) { return i % 2 ? 32767 : -32768; });
    for (const auto& m :
         {makeBitParallelCostModel(), makeStripesCostModel(), makeDpredCostModel(), makeLoomCostModel()}) {
        const LayerCost c = price(*m, l);
        EXPECT_DOUBLE_EQ(c.speedup(), 1.0) << m->name();
        EXPECT_DOUBLE_EQ(c.potentialSpeedup, 1.0) << m->name();
    }
    EXPECT_DOUBLE_EQ(price(*makeLoomCostModel(), l, {{"dynamic_weights", true}}).speedup(), 1.0);
    EXPECT_DOUBLE_EQ(price(*makeDpredCostModel(), l, {{"variant", "weights_activations"}}).speedup(), 1.0);
    // FC under the paper rule too.
    CostLayer fc = makeFcLayer(64, 256, 1, 16, 16, constant(65535), constant(1));
    EXPECT_DOUBLE_EQ(price(*makeLoomCostModel(), fc).speedup(), 1.0);
}

TEST(CostBitSerial, EnergyFollowsTheWork) {
    const auto str = makeStripesCostModel();
    const auto lm = makeLoomCostModel();
    ConvSpec s = eightBitSpec();
    s.NX = s.NY = 10;
    const LayerCost eight = price(*str, makeConv(s, constant(1), constant(1)));
    s.activationBits = 4;
    const LayerCost four = price(*str, makeConv(s, constant(1), constant(1)));
    EXPECT_LT(four.energy, eight.energy);
    EXPECT_DOUBLE_EQ(four.baselineEnergy, eight.baselineEnergy);
    // Loom at 16 x 16 spends the equal-peak engine's compute energy.
    const LayerCost full =
        price(*lm, loomLayer(65535, 16), {{"e_sram_bit", 0.0}, {"e_accumulate", 0.0}, {"e_dram_byte", 0.0}});
    EXPECT_NEAR(full.energy, full.baselineEnergy, 1e-9 * full.energy);
    const LayerCost half =
        price(*lm, loomLayer(255, 8), {{"e_sram_bit", 0.0}, {"e_accumulate", 0.0}, {"e_dram_byte", 0.0}});
    EXPECT_NEAR(half.baselineEnergy / half.energy, 4.0, 1e-9);
}

// ---- brute force: an independent walk of the grid ----

// The padded input, built here without CostLayer's accessors.
std::int32_t paddedInput(const CostLayer& l, std::int64_t m, std::int64_t c, int y, int x) {
    const int py = y - l.pad, px = x - l.pad;
    if (py < 0 || px < 0 || py >= l.NY || px >= l.NX) return 0;
    return l.activations.codes[static_cast<std::size_t>(((m * l.C + c) * l.NY + py) * l.NX + px)];
}

TEST(CostBitSerial, BruteForceBitParallelAndStripesCycles) {
    const auto bp = makeBitParallelCostModel();
    const auto str = makeStripesCostModel();
    for (int trial = 0; trial < 10; ++trial) {
        const CostLayer l = randomConv(false, 8);
        const int L = 16, W = 16, RT = 256, pa = l.activations.bits;
        // DaDianNao: one window per cycle, per filter chunk of R*T, kernel position and block of L channels.
        double bpCycles = 0, strCycles = 0;
        std::int64_t macs = 0;
        for (std::int64_t f0 = 0; f0 < l.F; f0 += RT)
            for (std::int64_t m = 0; m < l.M; ++m) {
                for (int oy = 0; oy < l.OY; ++oy)
                    for (int ox = 0; ox < l.OX; ++ox)
                        for (int k = 0; k < l.KX * l.KY; ++k)
                            for (std::int64_t c0 = 0; c0 < l.C; c0 += L) {
                                ++bpCycles;
                                macs += std::min<std::int64_t>(L, l.C - c0) * std::min<std::int64_t>(RT, l.F - f0);
                            }
                // Stripes: windows W at a time in raster order across rows, Pa cycles per step.
                int inSet = 0;
                std::int64_t sets = 0;
                for (int oy = 0; oy < l.OY; ++oy)
                    for (int ox = 0; ox < l.OX; ++ox)
                        if (inSet++ % W == 0) ++sets;
                for (std::int64_t set = 0; set < sets; ++set)
                    for (int k = 0; k < l.KX * l.KY; ++k)
                        for (std::int64_t c0 = 0; c0 < l.C; c0 += L)
                            strCycles += pa;
            }
        EXPECT_EQ(macs, l.macs());
        const LayerCost b = price(*bp, l), s = price(*str, l);
        EXPECT_DOUBLE_EQ(b.cycles, bpCycles) << trial;
        EXPECT_DOUBLE_EQ(s.cycles, strCycles) << trial;
        EXPECT_DOUBLE_EQ(s.baselineCycles, bpCycles);
    }
}

TEST(CostBitSerial, BruteForceGridGatherAndPairSums) {
    for (int trial = 0; trial < 6; ++trial) {
        CostLayer l = randomConv(false, 8);
        if (trial % 2) { // grouped conv: the weight a channel meets comes from its group's filters
            l.groups = 2;
            l.C = 2 * ((l.C + 1) / 2);
            l.F = 2 * ((l.F + 1) / 2);
            l.activations.codes.assign(static_cast<std::size_t>(l.M * l.C * l.NY * l.NX), 0);
            for (std::size_t i = 0; i < l.activations.codes.size(); ++i)
                l.activations.codes[i] = static_cast<std::int32_t>(i % 37);
            l.weights.codes.assign(static_cast<std::size_t>(l.F * (l.C / 2) * l.KY * l.KX), 0);
            for (std::size_t i = 0; i < l.weights.codes.size(); ++i)
                l.weights.codes[i] = static_cast<std::int32_t>(i % 11) - 5;
        }
        const GridLayout layout = gridLayout(l, TileGrid{});
        std::vector<std::int32_t> acts;
        std::int64_t seen = 0;
        for (std::int64_t m = 0; m < l.M; ++m)
            forEachStep(layout, m, [&](const GridStep& step) {
                gatherStepActivations(l, layout, step, acts);
                for (int w = 0; w < step.windowCount; ++w) {
                    const std::int64_t window = step.firstWindow + w;
                    const int oy = static_cast<int>(window / l.OX), ox = static_cast<int>(window % l.OX);
                    for (int lane = 0; lane < step.laneCount; ++lane)
                        ASSERT_EQ(acts[static_cast<std::size_t>(w * step.laneCount + lane)],
                                  paddedInput(l, m, step.firstChannel + lane, oy * l.stride + step.ky,
                                              ox * l.stride + step.kx));
                }
                seen += static_cast<std::int64_t>(acts.size());
            });
        EXPECT_EQ(seen * layout.virtualFilters, l.macs());
        // sumPairs against every (a, w) pair enumerated directly.
        const std::int64_t cpg = l.C / l.groups, fpg = l.F / l.groups;
        double direct = 0;
        for (std::int64_t m = 0; m < l.M; ++m)
            for (std::int64_t f = 0; f < l.F; ++f)
                for (int oy = 0; oy < l.OY; ++oy)
                    for (int ox = 0; ox < l.OX; ++ox)
                        for (std::int64_t cg = 0; cg < cpg; ++cg)
                            for (int ky = 0; ky < l.KY; ++ky)
                                for (int kx = 0; kx < l.KX; ++kx) {
                                    const std::int64_t c = (f / fpg) * cpg + cg;
                                    const std::int32_t a = paddedInput(l, m, c, oy * l.stride + ky, ox * l.stride + kx);
                                    const std::int32_t w =
                                        l.weights
                                            .codes[static_cast<std::size_t>(((f * cpg + cg) * l.KY + ky) * l.KX + kx)];
                                    direct += (a % 5 + 1.0) * (w * w + 0.5);
                                }
        const double summed = sumPairs(
            l, [](std::int32_t a) { return a % 5 + 1.0; }, [](std::int32_t w) { return w * w + 0.5; });
        EXPECT_NEAR(summed, direct, 1e-9 * direct) << trial;
    }
}

TEST(CostBitSerial, TileHelpersAndErrors) {
    ConvSpec s = eightBitSpec();
    s.F = 600;
    const CostLayer l = makeConv(s, constant(1), constant(1));
    const GridLayout layout = gridLayout(l, TileGrid{});
    EXPECT_EQ(layout.filterSets(), 3);
    EXPECT_EQ(tileFilters(layout, 2, 5, 1).count(), 600 - 512 - 5 * 16);
    EXPECT_EQ(tileFilters(layout, 2, 6, 1).count(), 0);
    EXPECT_EQ(layout.filterSets(2), 5); // 8 filters per tile
    TileSync sync(3);
    sync.add(0, 5), sync.add(1, 2);
    sync.closeWindowSet();
    sync.add(2, 4);
    sync.closeWindowSet();
    EXPECT_EQ(sync.cycles(), 9);
    EXPECT_EQ(sync.stallCycles(), 3); // tile 1 waited 3; tile 2 was idle in the first set
    CostLayer broken = l;
    broken.activations.codes.pop_back();
    EXPECT_THROW(price(*makeDpredCostModel(), broken), Error);
    broken.C = 0;
    EXPECT_THROW(price(*makeBitParallelCostModel(), broken), Error);
}

} // namespace
} // namespace qs::core
