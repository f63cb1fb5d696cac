// SPDX-License-Identifier: MIT
// Pricing throughput of the value-dependent accelerator cost models (core/cost/, ../shared/specs/cost-models.md):
// MACs of the layer priced per second (items/s) at 1 and 2 threads, for every grid design at its default
// parameters (Bit-Tactical with each back end). Two synthetic layers, seeded:
//   fc    4096 x 4096, M = 128 rows: int4 symmetric weight codes -7..7, int8 activation codes (a bell, sigma 24);
//   conv  C = 64, F = 128, 3x3, pad 1, 56x56 input, M = 1: int8 bell weights, post-ReLU unsigned 8-bit activations.
// Slow models take seconds per layer: run with --benchmark_repetitions=5 for medians, or filter
// (--benchmark_filter=cost/conv/) to time a few.
#include "base/param_schema.h"
#include "base/process.h"
#include "cost/bitparallel.h"
#include "cost/dpred.h"
#include "cost/laconic.h"
#include "cost/loom.h"
#include "cost/pragmatic.h"
#include "cost/stripes.h"
#include "cost/tactical.h"

#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace qs::core;

namespace {

// A bell of integer codes: rounded N(mean, sigma) clamped to [lo, hi].
std::vector<std::int32_t> bellCodes(std::size_t count, double mean, double sigma, int lo, int hi, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> d(mean, sigma);
    std::vector<std::int32_t> v(count);
    for (auto& c : v) c = std::clamp(static_cast<int>(std::lround(d(rng))), lo, hi);
    return v;
}

const CostLayer& fcLayer() {
    static const CostLayer layer = [] {
        CostLayer l;
        l.name = "fc_4096x4096_m128";
        l.shape = LayerShape::FullyConnected;
        l.C = 4096, l.F = 4096, l.M = 128;
        l.weights = {bellCodes(static_cast<std::size_t>(l.F * l.C), 0.0, 2.5, -7, 7, 1), 4, true, "int4"};
        l.activations = {bellCodes(static_cast<std::size_t>(l.M * l.C), 0.0, 24.0, -127, 127, 2), 8, true, "int8"};
        return l;
    }();
    return layer;
}

const CostLayer& convLayer() {
    static const CostLayer layer = [] {
        CostLayer l;
        l.name = "conv_64x128_3x3_56";
        l.shape = LayerShape::Conv;
        l.C = 64, l.F = 128, l.M = 1;
        l.KX = l.KY = 3, l.pad = 1;
        l.NX = l.NY = l.OX = l.OY = 56;
        l.weights = {bellCodes(static_cast<std::size_t>(l.F * l.C * 9), 0.0, 24.0, -127, 127, 3), 8, true, "int8"};
        // Post-ReLU: the negative half of a bell becomes zero.
        l.activations = {bellCodes(static_cast<std::size_t>(l.M * l.C * l.NY * l.NX), 0.0, 40.0, 0, 255, 4), 8,
                         false, "uint8"};
        return l;
    }();
    return layer;
}

struct Design {
    std::string name;
    std::function<std::unique_ptr<CostModel>()> make;
    nlohmann::json given = nlohmann::json::object();
};

void priceBench(benchmark::State& state, const Design& design, const CostLayer* layer) {
    omp_set_num_threads(static_cast<int>(state.range(0)));
    const std::unique_ptr<CostModel> model = design.make();
    const nlohmann::json params = validateParams(model->params(), design.given, "bench");
    LayerCost cost;
    for (auto _ : state) {
        cost = model->layer(*layer, params);
        benchmark::DoNotOptimize(cost); // (a double through DoNotOptimize(T&) comes back garbled with GCC 12)
    }
    state.SetItemsProcessed(state.iterations() * layer->macs());
    state.counters["speedup"] = cost.speedup(); // the figure priced, to spot a change of result at a glance
}

} // namespace

int main(int argc, char** argv) {
    configureProcess(argv); // as quantscope-cli: no busy-waiting threads on shared cores
    const std::vector<Design> designs = {
        {"bitparallel", makeBitParallelCostModel},
        {"stripes", makeStripesCostModel},
        {"dpred", makeDpredCostModel},
        {"loom", makeLoomCostModel},
        {"pragmatic", makePragmaticCostModel},
        {"laconic", makeLaconicCostModel},
        {"tactical_frontend", makeTacticalCostModel, {{"backend", "frontend"}}},
        {"tactical_tclp", makeTacticalCostModel, {{"backend", "tclp"}}},
        {"tactical_tcle", makeTacticalCostModel, {{"backend", "tcle"}}},
    };
    for (const auto& [layerName, layer] : {std::pair{"fc", &fcLayer()}, std::pair{"conv", &convLayer()}})
        for (const Design& d : designs)
            benchmark::RegisterBenchmark(("cost/" + std::string(layerName) + "/" + d.name).c_str(), priceBench, d, layer)
                ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
