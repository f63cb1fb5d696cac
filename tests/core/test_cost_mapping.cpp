// SPDX-License-Identifier: MIT
// "mapping": the loop-nest mapping explorer of ../shared/specs/cost-models.md §14.
#include "base/error.h"
#include "base/param_schema.h"
#include "cost/mac_cost.h"
#include "cost/mapping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>

using namespace qs::core;
using ::testing::HasSubstr;

namespace {

nlohmann::json paramsOf(const CostModel& m, const nlohmann::json& given) {
    return validateParams(m.params(), given, std::string(m.name()));
}

CostLayer fcLayer(std::int64_t M, std::int64_t C, std::int64_t F, const std::string& format = "int8", int bits = 8) {
    CostLayer l;
    l.name = "fc";
    l.M = M;
    l.C = C;
    l.F = F;
    l.weights.format = l.activations.format = format;
    l.weights.bits = l.activations.bits = bits;
    l.weightStoredBits = l.activationStoredBits = bits;
    return l;
}

CostLayer convLayer(std::int64_t C, std::int64_t F, int out, int kernel) {
    CostLayer l = fcLayer(1, C, F);
    l.name = "conv";
    l.shape = LayerShape::Conv;
    l.KX = l.KY = kernel;
    l.OX = l.OY = out;
    l.NX = l.NY = out + kernel - 1;
    return l;
}

Mapping mappingOf(std::vector<std::array<std::int64_t, 4>> factors, std::vector<int> dramOrder,
                  std::vector<int> bufferOrder = {}, int x = -1, int y = -1) {
    Mapping m;
    m.factors = std::move(factors);
    m.dramOrder = std::move(dramOrder);
    m.bufferOrder = std::move(bufferOrder);
    m.spatialX = x;
    m.spatialY = y;
    return m;
}

double trafficOf(const std::vector<TensorTraffic>& v, const std::string& tensor, bool writes = false) {
    for (const auto& t : v)
        if (t.tensor == tensor) return writes ? t.writes : t.reads;
    ADD_FAILURE() << "no tensor " << tensor;
    return -1;
}

// The space written out independently of the explorer: every ordered 4-way factorisation of every dim, every
// pair of array axes (duplicates and all), every permutation of the non-unit loops at both temporal levels.
struct Minima {
    double cycles = std::numeric_limits<double>::infinity(), energy = cycles, edp = cycles, dram = cycles;
    std::uint64_t mappings = 0;
    std::set<std::tuple<double, double, double>> costs; ///< distinct (cycles, energy, DRAM bytes) that fit
};

std::vector<std::array<std::int64_t, 4>> allSplits(std::int64_t n) {
    std::vector<std::array<std::int64_t, 4>> out;
    for (std::int64_t a = 1; a <= n; ++a)
        for (std::int64_t b = 1; a * b <= n; ++b)
            for (std::int64_t c = 1; a * b * c <= n; ++c)
                if (n % (a * b * c) == 0) out.push_back({a, b, c, n / (a * b * c)});
    return out;
}

void permutations(std::vector<int> dims, const std::function<void(const std::vector<int>&)>& f) {
    std::sort(dims.begin(), dims.end());
    do f(dims);
    while (std::next_permutation(dims.begin(), dims.end()));
}

Minima bruteForce(const LoopProblem& p, const Hierarchy& h) {
    Minima best;
    const int D = static_cast<int>(p.dims.size());
    std::vector<std::vector<std::array<std::int64_t, 4>>> splits;
    for (const auto& d : p.dims) splits.push_back(allSplits(d.size));
    for (int x = -1; x < D; ++x)
        for (int y = -1; y < D; ++y) {
            if (x >= 0 && x == y) continue;
            Mapping m;
            m.spatialX = x;
            m.spatialY = y;
            m.factors.resize(static_cast<std::size_t>(D));
            std::function<void(int)> choose = [&](int d) {
                if (d == D) {
                    std::vector<int> dram, buffer;
                    for (int i = 0; i < D; ++i) {
                        if (m.factors[static_cast<std::size_t>(i)][0] > 1) dram.push_back(i);
                        if (m.factors[static_cast<std::size_t>(i)][1] > 1) buffer.push_back(i);
                    }
                    permutations(dram, [&](const std::vector<int>& a) {
                        permutations(buffer, [&](const std::vector<int>& b) {
                            m.dramOrder = a;
                            m.bufferOrder = b;
                            const MappingCost c = evaluateMapping(p, h, m);
                            ++best.mappings;
                            if (!c.fits) return;
                            best.cycles = std::min(best.cycles, c.cycles);
                            best.energy = std::min(best.energy, c.energy);
                            best.edp = std::min(best.edp, c.edp());
                            best.dram = std::min(best.dram, c.dramBytes);
                            best.costs.emplace(c.cycles, c.energy, c.dramBytes);
                        });
                    });
                    return;
                }
                for (const auto& s : splits[static_cast<std::size_t>(d)]) {
                    if (s[2] > 1 && d != x && d != y) continue;
                    m.factors[static_cast<std::size_t>(d)] = s;
                    choose(d + 1);
                }
            };
            choose(0);
        }
    return best;
}

MappingCost bestUnder(const LoopProblem& p, const Hierarchy& h, MappingObjective o, MapperResult* result = nullptr,
                      int topK = 3) {
    MapperOptions options;
    options.objective = o;
    options.maxMappings = 1000000000;
    options.topK = topK;
    MapperResult r = exploreMappings(p, h, options);
    EXPECT_TRUE(r.exhaustive);
    if (result) *result = r;
    return r.top.front().cost;
}

// Every distinct cost the explorer saw: pruning equivalent orders and mirrored axes must lose none.
std::set<std::tuple<double, double, double>> costsOfTheWholeSearch(const LoopProblem& p, const Hierarchy& h) {
    MapperResult r;
    bestUnder(p, h, MappingObjective::Edp, &r, 1 << 30);
    EXPECT_EQ(r.top.size(), r.evaluated);
    std::set<std::tuple<double, double, double>> costs;
    for (const auto& m : r.top) costs.emplace(m.cost.cycles, m.cost.energy, m.cost.dramBytes);
    return costs;
}

Hierarchy tinyHierarchy() {
    Hierarchy h;
    h.arrayX = 2;
    h.arrayY = 2;
    h.bufferBytes = 40;
    h.registerBytes = 8;
    h.dramBytesPerCycle = 4;
    h.bufferBytesPerCycle = 8;
    return h;
}

} // namespace

TEST(CostMapping, ReadsNoValues) {
    const auto m = makeMappingCostModel();
    EXPECT_EQ(m->name(), "mapping");
    EXPECT_FALSE(m->needsActivations());
    EXPECT_FALSE(m->needsWeights());
}

TEST(CostMapping, MatmulThatFitsTheBufferReachesCompulsoryDramTraffic) {
    const LoopProblem p = matmulProblem(8, 8, 8, 8, 8, 8, 32);
    const Hierarchy h; // 128 KiB: everything fits
    for (MappingObjective o : {MappingObjective::Dram, MappingObjective::Energy}) {
        const MappingCost c = bestUnder(p, h, o);
        EXPECT_DOUBLE_EQ(c.dramBytes, 3 * 64.0); // |A| + |B| + |C|, one byte each
        EXPECT_DOUBLE_EQ(trafficOf(c.dram, "Inputs"), 64);
        EXPECT_DOUBLE_EQ(trafficOf(c.dram, "Weights"), 64);
        EXPECT_DOUBLE_EQ(trafficOf(c.dram, "Outputs", true), 64);
        EXPECT_DOUBLE_EQ(trafficOf(c.dram, "Outputs"), 0);
    }
    // Through the registered model (a bounded search), on an FC layer of 16 x 16 x 16.
    const auto model = makeMappingCostModel();
    const LayerCost c =
        model->layer(fcLayer(16, 16, 16), paramsOf(*model, {{"objective", "dram"}, {"max_mappings", 3000}}));
    EXPECT_DOUBLE_EQ(c.extra["dram_bytes"].get<double>(), 768);
    EXPECT_EQ(c.extra["accesses"]["dram"]["Outputs"]["writes"], 256);
    // When it cannot fit, more than the compulsory traffic.
    Hierarchy small;
    small.bufferBytes = 64;
    EXPECT_GT(bestUnder(p, small, MappingObjective::Dram).dramBytes, 192);
}

TEST(CostMapping, TrafficFollowsTheStationarityRule) {
    const LoopProblem p = matmulProblem(4, 4, 4, 8, 8, 8, 32); // dims M, N, K
    Hierarchy h;
    // DRAM loops M2 N2 K2, a 2 x 2 x 2 buffer tile in registers.
    const std::vector<std::array<std::int64_t, 4>> f = {{2, 1, 1, 2}, {2, 1, 1, 2}, {2, 1, 1, 2}};
    // Order M, N, K: K innermost is used by A and B (refetched every step); C ignores K and stays.
    MappingCost c = evaluateMapping(p, h, mappingOf(f, {0, 1, 2}));
    EXPECT_DOUBLE_EQ(trafficOf(c.dram, "Inputs"), 16 * 2);  // |A| x N2
    EXPECT_DOUBLE_EQ(trafficOf(c.dram, "Weights"), 16 * 2); // |B| x M2
    EXPECT_DOUBLE_EQ(trafficOf(c.dram, "Outputs", true), 16);
    EXPECT_DOUBLE_EQ(trafficOf(c.dram, "Outputs"), 0);
    // Order K, M, N: A ignores N and stays; C returns once per K step: partial sums at 32 bits.
    c = evaluateMapping(p, h, mappingOf(f, {2, 0, 1}));
    EXPECT_DOUBLE_EQ(trafficOf(c.dram, "Inputs"), 16);
    EXPECT_DOUBLE_EQ(trafficOf(c.dram, "Weights"), 32);
    EXPECT_DOUBLE_EQ(trafficOf(c.dram, "Outputs", true), 16 * 1 + 16 * 4); // final 8-bit + one partial write
    EXPECT_DOUBLE_EQ(trafficOf(c.dram, "Outputs"), 16 * 4);                // the partials read back
    EXPECT_DOUBLE_EQ(c.dramBytes, 16 + 32 + 16 + 64 + 64);
    EXPECT_DOUBLE_EQ(c.computeCycles, 64);
    EXPECT_DOUBLE_EQ(c.cycles, std::max(64.0, c.dramBytes / h.dramBytesPerCycle));
}

TEST(CostMapping, ArrayMulticastsWhatAnAxisDoesNotIndex) {
    const LoopProblem p = matmulProblem(4, 4, 1, 8, 8, 8, 32);
    Hierarchy h;
    // N across 4 PEs, M in each PE's registers: every PE needs the same 4 inputs.
    const MappingCost c = evaluateMapping(p, h, mappingOf({{1, 1, 1, 4}, {1, 1, 4, 1}, {1, 1, 1, 1}}, {}, {}, 1, -1));
    EXPECT_DOUBLE_EQ(trafficOf(c.buffer, "Inputs"), 4);
    EXPECT_DOUBLE_EQ(trafficOf(c.buffer, "Weights"), 4);
    EXPECT_DOUBLE_EQ(trafficOf(c.buffer, "Outputs", true), 16 * 4); // psums out at 32 bits
    EXPECT_EQ(c.activePes, 4);
    EXPECT_DOUBLE_EQ(c.utilisation, 4.0 / 256);
    EXPECT_DOUBLE_EQ(c.computeCycles, 4);
    // Energy is the sum of its parts.
    EXPECT_DOUBLE_EQ(c.energy, c.macs * h.eMac + c.dramBytes * h.eDramByte +
                                   (c.dramBytes + c.bufferBytes) * h.eBufferByte + c.registerBytes * h.eRegisterByte);
}

TEST(CostMapping, ExplorerFindsTheBruteForceMinimumOfAMatmul) {
    const LoopProblem p = matmulProblem(4, 4, 2, 8, 8, 8, 32);
    const Hierarchy h = tinyHierarchy();
    const Minima brute = bruteForce(p, h);
    ASSERT_LT(brute.cycles, std::numeric_limits<double>::infinity());
    MapperResult r;
    EXPECT_DOUBLE_EQ(bestUnder(p, h, MappingObjective::Cycles, &r).cycles, brute.cycles);
    EXPECT_LT(r.evaluated, brute.mappings); // equivalent orders and mirrored axes were costed once
    EXPECT_GT(r.overCapacity, 0u);
    EXPECT_DOUBLE_EQ(bestUnder(p, h, MappingObjective::Energy).energy, brute.energy);
    EXPECT_DOUBLE_EQ(bestUnder(p, h, MappingObjective::Edp).edp(), brute.edp);
    EXPECT_DOUBLE_EQ(bestUnder(p, h, MappingObjective::Dram).dramBytes, brute.dram);
    EXPECT_EQ(costsOfTheWholeSearch(p, h), brute.costs);
}

TEST(CostMapping, ExplorerFindsTheBruteForceMinimumOfAConv) {
    // N K C P Q R S = 1 2 2 2 1 2 1, stride 1, on a 4 x 2 array (not square: both axis assignments count).
    const LoopProblem p = convProblem(1, 2, 2, 2, 1, 2, 1, 1, 8, 4, 8, 24);
    Hierarchy h = tinyHierarchy();
    h.arrayX = 4;
    h.bufferBytes = 36;
    h.registerBytes = 6;
    const Minima brute = bruteForce(p, h);
    ASSERT_LT(brute.cycles, std::numeric_limits<double>::infinity());
    EXPECT_DOUBLE_EQ(bestUnder(p, h, MappingObjective::Cycles).cycles, brute.cycles);
    EXPECT_DOUBLE_EQ(bestUnder(p, h, MappingObjective::Energy).energy, brute.energy);
    EXPECT_DOUBLE_EQ(bestUnder(p, h, MappingObjective::Edp).edp(), brute.edp);
    EXPECT_DOUBLE_EQ(bestUnder(p, h, MappingObjective::Dram).dramBytes, brute.dram);
    EXPECT_EQ(costsOfTheWholeSearch(p, h), brute.costs);
}

TEST(CostMapping, TilesOverCapacityAreRejected) {
    const LoopProblem p = matmulProblem(16, 16, 16, 8, 8, 8, 32);
    Hierarchy h;
    h.bufferBytes = 1024;
    // The whole problem in the buffer: 256 + 256 + 256 x 4 bytes of partial sums.
    const MappingCost all =
        evaluateMapping(p, h, mappingOf({{1, 16, 1, 1}, {1, 16, 1, 1}, {1, 16, 1, 1}}, {}, {0, 1, 2}));
    EXPECT_FALSE(all.fits);
    EXPECT_THAT(all.whyNot, HasSubstr("buffer tiles need 1536 bytes of 1024 bytes"));
    const MappingCost wide =
        evaluateMapping(p, Hierarchy{}, mappingOf({{1, 1, 1, 16}, {1, 1, 16, 1}, {16, 1, 1, 1}}, {2}, {}, 1));
    EXPECT_FALSE(wide.fits);
    EXPECT_THAT(wide.whyNot, HasSubstr("register tiles"));
    h.arrayX = 8;
    EXPECT_FALSE(evaluateMapping(p, h, mappingOf({{16, 1, 1, 1}, {1, 1, 16, 1}, {16, 1, 1, 1}}, {0, 2}, {}, 1)).fits);

    MapperOptions o;
    o.topK = 5;
    o.maxMappings = 2000;
    const MapperResult r = exploreMappings(p, h, o);
    EXPECT_GT(r.overCapacity, 0u);
    for (const auto& m : r.top) {
        EXPECT_TRUE(m.cost.fits);
        EXPECT_LE(m.cost.bufferUse, h.bufferBytes);
        EXPECT_LE(m.cost.registerUse, h.registerBytes);
        EXPECT_LE(m.cost.activePes, 8 * 16);
    }
    // Nothing fits when one partial sum (4 bytes) overflows the registers.
    h.registerBytes = 3;
    try {
        exploreMappings(p, h, o);
        ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("no mapping fits"));
    }
}

TEST(CostMapping, PrintedNestListsEveryDimension) {
    const auto model = makeMappingCostModel();
    const LayerCost c = model->layer(convLayer(8, 16, 4, 3), paramsOf(*model, {{"max_mappings", 2000}}));
    const std::string nest = c.extra["nest"].get<std::string>();
    for (const char* dim : {"N", "K", "C", "P", "Q", "R", "S"})
        EXPECT_THAT(nest, HasSubstr(std::string("for ") + dim + " in [0:")) << nest;
    // One loop per line, each one level deeper, the MAC last.
    std::istringstream lines(nest);
    std::string line;
    std::size_t depth = 0, count = 0;
    std::vector<std::string> all;
    while (std::getline(lines, line)) all.push_back(line);
    ASSERT_GE(all.size(), 8u);
    for (const auto& l : all) {
        EXPECT_EQ(l.find_first_not_of(' '), depth) << nest;
        depth += 2;
        ++count;
    }
    EXPECT_EQ(all.back().substr(all.back().find_first_not_of(' ')), "Outputs += Weights * Inputs");
    // Bounds per dim multiply to the dim's size.
    const nlohmann::json factors = c.extra["mapping"]["factors"];
    for (const auto& [dim, size] : c.extra["problem"]["dims"].items()) {
        std::int64_t product = 1;
        for (const auto& f : factors[dim]) product *= f.get<std::int64_t>();
        EXPECT_EQ(product, size.get<std::int64_t>()) << dim;
    }
}

TEST(CostMapping, ReportsTheTopTableAndBeatsTheNaiveBaseline) {
    const auto model = makeMappingCostModel();
    const CostLayer l = fcLayer(32, 64, 48);
    const LayerCost c =
        model->layer(l, paramsOf(*model, {{"objective", "cycles"}, {"top_k", 4}, {"max_mappings", 3000}}));
    ASSERT_EQ(c.extra["top"].size(), 4u);
    for (std::size_t i = 1; i < 4; ++i)
        EXPECT_LE(c.extra["top"][i - 1]["score"].get<double>(), c.extra["top"][i]["score"].get<double>());
    EXPECT_DOUBLE_EQ(c.extra["top"][0]["cycles"].get<double>(), c.cycles);
    EXPECT_GE(c.speedup(), 1.0);
    // The naive nest: M, N, K at DRAM, one value per level: A and B every MAC, C once (it ignores K).
    EXPECT_DOUBLE_EQ(c.extra["baseline"]["dram_bytes"].get<double>(), 2.0 * 32 * 64 * 48 + 32 * 48);
    EXPECT_DOUBLE_EQ(c.baselineCycles, 32.0 * 64 * 48); // one PE: compute-bound
    EXPECT_GT(c.extra["utilisation"].get<double>(), 0);
    EXPECT_TRUE(c.extra["search"]["exhaustive"].is_boolean());
    // The objectives trade: the cycles-best is never slower, the energy-best never hungrier.
    const LayerCost e = model->layer(l, paramsOf(*model, {{"objective", "energy"}, {"max_mappings", 3000}}));
    EXPECT_LE(c.cycles, e.cycles);
    EXPECT_LE(e.energy, c.energy);
}

TEST(CostMapping, SearchIsBoundedAndDeterministic) {
    const auto model = makeMappingCostModel();
    const CostLayer l = convLayer(64, 64, 14, 3);
    const nlohmann::json p = paramsOf(*model, {{"max_mappings", 300}});
    const LayerCost a = model->layer(l, p), b = model->layer(l, p);
    EXPECT_LE(a.extra["search"]["evaluated"].get<std::uint64_t>(), 300u);
    EXPECT_FALSE(a.extra["search"]["exhaustive"].get<bool>());
    EXPECT_GT(a.extra["search"]["tilings"].get<std::uint64_t>(), 300u);
    EXPECT_EQ(a.extra["nest"], b.extra["nest"]);
    EXPECT_EQ(a.extra["top"], b.extra["top"]);
    EXPECT_DOUBLE_EQ(a.cycles, b.cycles);
}

TEST(CostMapping, MacEnergyComesFromTheMacTable) {
    const auto model = makeMappingCostModel();
    const EnergyParams e;
    const nlohmann::json p = paramsOf(*model, {{"fp_accumulator", "fp16"}, {"max_mappings", 50}});
    EXPECT_DOUBLE_EQ(model->layer(fcLayer(4, 4, 4), p).extra["mac_energy_pj"].get<double>(), int8MacEnergy(e));
    const LayerCost fp8 = model->layer(fcLayer(4, 4, 4, "fp8_e4m3"), p);
    EXPECT_DOUBLE_EQ(fp8.extra["mac_energy_pj"].get<double>(), 1.53 * int8MacEnergy(e));
    EXPECT_EQ(fp8.extra["mac_energy_source"], "mac_cost table");
    const LayerCost fp4 = model->layer(fcLayer(4, 4, 4, "nvfp4", 4), p);
    EXPECT_THAT(fp4.extra["mac_energy_source"].get<std::string>(), HasSubstr("bits^2 rule"));
    EXPECT_EQ(fp4.extra["mac_cost_status"], "unpriced");
}

TEST(CostMapping, GroupedConvCostsEachGroup) {
    const auto model = makeMappingCostModel();
    CostLayer g = convLayer(8, 8, 4, 3);
    g.groups = 4;
    const nlohmann::json p = paramsOf(*model, {{"objective", "cycles"}, {"max_mappings", 2000}});
    const LayerCost c = model->layer(g, p);
    EXPECT_EQ(c.extra["problem"]["instances"], 4);
    EXPECT_EQ(c.extra["problem"]["dims"]["C"], 2);
    EXPECT_EQ(c.extra["problem"]["dims"]["K"], 2);
    // Each group runs alone: four times one group's cost.
    const LoopProblem one = convProblem(1, 2, 2, 4, 4, 3, 3, 1, 8, 8, 8, 32);
    MapperOptions o;
    o.objective = MappingObjective::Cycles;
    o.maxMappings = 2000;
    Hierarchy h;
    h.eMac = c.extra["mac_energy_pj"].get<double>();
    EXPECT_DOUBLE_EQ(c.cycles, 4 * exploreMappings(one, h, o).top.front().cost.cycles);
}
