// SPDX-License-Identifier: MIT
// The grid cost models price steps, tiles and filter sets on OpenMP threads and combine them in a fixed order:
// every figure must be the same, bit for bit, at 1 and at 2 threads.
#include "cost/bitparallel.h"
#include "cost/dpred.h"
#include "cost/laconic.h"
#include "cost/loom.h"
#include "cost/pragmatic.h"
#include "cost/stripes.h"
#include "cost/tactical.h"
#include "cost_test_layers.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace qs;

namespace {

// Bell-shaped codes with zeros, seeded: values that make the value-dependent models branch.
test::CodeFn randomCodes(unsigned seed, double sigma, int lo, int hi) {
    auto rng = std::make_shared<std::mt19937>(seed);
    return [rng, sigma, lo, hi](std::int64_t) {
        std::normal_distribution<double> d(0.0, sigma);
        return static_cast<std::int32_t>(std::clamp(static_cast<int>(std::lround(d(*rng))), lo, hi));
    };
}

struct Case {
    std::string name;
    std::function<std::unique_ptr<core::CostModel>()> make;
    nlohmann::json params;
};

std::vector<Case> cases() {
    // A small grid: many steps, tiles and filter sets on small layers, so the parallel loops split.
    const nlohmann::json grid = {{"lanes", 4}, {"columns", 4}, {"rows", 2}, {"tiles", 3}};
    const auto with = [&grid](nlohmann::json p) {
        p.update(grid);
        return p;
    };
    std::vector<Case> out;
    for (const char* mode : {"paper", "dnnsim"}) {
        out.push_back({"bitparallel", core::makeBitParallelCostModel, grid});
        out.push_back({"stripes", core::makeStripesCostModel, with({{"precision_source", "observed"}})});
        out.push_back({"dpred", core::makeDpredCostModel, with({{"mode", mode}, {"column_registers", 2}})});
        out.push_back({"dpred_wa", core::makeDpredCostModel,
                       with({{"mode", mode}, {"variant", "weights_activations"}, {"precision_group", 8}})});
        out.push_back({"loom", core::makeLoomCostModel, with({{"mode", mode}, {"dynamic_weights", true}})});
        out.push_back({"pragmatic", core::makePragmaticCostModel, with({{"mode", mode}, {"column_registers", 1}})});
        out.push_back({"laconic", core::makeLaconicCostModel, with({{"mode", mode}, {"pe_width", 4}})});
        for (const char* backend : {"frontend", "tclp", "tcle"})
            out.push_back({std::string("tactical_") + backend, core::makeTacticalCostModel,
                           with({{"mode", mode}, {"backend", backend}, {"lookaside", 2}})});
    }
    return out;
}

std::vector<core::CostLayer> layers() {
    test::ConvSpec conv;
    conv.C = 12, conv.F = 22, conv.NX = 13, conv.NY = 11, conv.pad = 1, conv.M = 2;
    conv.activationBits = 8, conv.weightBits = 8;
    test::ConvSpec grouped = conv;
    grouped.groups = 2, grouped.stride = 2, grouped.activationsSigned = true;
    return {test::makeConvLayer(conv, randomCodes(1, 40, 0, 255), randomCodes(2, 20, -127, 127)),
            test::makeConvLayer(grouped, randomCodes(3, 30, -128, 127), randomCodes(4, 2, -7, 7)),
            test::makeFcLayer(70, 45, 9, 8, 4, randomCodes(5, 30, 0, 255), randomCodes(6, 2.5, -7, 7)),
            test::makeFcLayer(70, 45, 3, 8, 4, randomCodes(7, 30, 0, 255), randomCodes(8, 2.5, -7, 7))};
}

std::string priceAt(int threads, const Case& c, const core::CostLayer& layer) {
    omp_set_num_threads(threads);
    const auto model = c.make();
    return test::priceLayer(*model, layer, c.params).toJson().dump();
}

} // namespace

TEST(CostThreads, OneAndTwoThreadsPriceAlike) {
    const int before = omp_get_max_threads();
    for (const core::CostLayer& layer : layers())
        for (const Case& c : cases()) {
            const std::string one = priceAt(1, c, layer);
            EXPECT_EQ(priceAt(2, c, layer), one) << c.name << " " << c.params.dump() << " on " << layer.name;
        }
    omp_set_num_threads(before);
}
