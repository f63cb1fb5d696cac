// SPDX-License-Identifier: MIT
#include "cost/stripes.h"

#include "cost/bit_grid.h"

#include <algorithm>

namespace qs::core {

const ParamSchema& StripesCostModel::params() const {
    static const ParamSchema schema = joinSchemas(
        {{precisionSourceParam(),
          {"pe_width",
           ParamType::Int,
           16,
           1,
           32,
           {},
           "bits of the PE's weight input (wider weights take more rows)",
           "PE width"}},
         tileGridSchema(),
         energySchema()});
    return schema;
}

LayerCost StripesCostModel::layer(const CostLayer& layer, const nlohmann::json& params) const {
    const GridLayout layout = gridLayout(layer, TileGrid::fromParams(params));
    const TileGrid& g = layout.grid;
    const int peWidth = params.value("pe_width", 16);
    const std::string source = params.value("precision_source", std::string("quantizer"));
    int precision = layer.activations.bits;
    if (source == "observed") {
        requireActivations(layer);
        precision = observedPrecision(layer.activations);
    }
    const int pa = std::clamp(precision, 1, peWidth); // DNNsim clamps to the PE width (§3.2)
    const int rowsPerFilter = (std::max(1, layer.weights.bits) + peWidth - 1) / peWidth;
    const std::int64_t filterSets = layout.filterSets(rowsPerFilter);

    LayerCost cost;
    cost.name = layer.name;
    cost.baselineCycles = layout.bitParallelCycles();
    std::string fcRule = layoutPath(layout);
    std::int64_t stall = 0;
    if (layout.fcQueue) {
        // §3.3: one window, so columns take different blocks round-robin, each held Pa cycles.
        FcIssueQueue queue(g.columns);
        for (std::int64_t block = 0; block < layout.images * layout.channelBlocks; ++block)
            queue.issue(pa);
        cost.cycles = queue.cycles(filterSets);
        stall = queue.stallCycles() * filterSets;
    } else {
        cost.cycles = static_cast<double>(layout.images * layout.stepsPerImage() * pa * filterSets); // §3.2
    }
    cost.potentialSpeedup = static_cast<double>(g.baselineBits) / pa; // §10: Pa * B bits per pair

    const EnergyParams e = EnergyParams::fromParams(params);
    const GridEvents events = bitSerialEvents(layer, layout, cost.cycles, rowsPerFilter);
    cost.energy = events.energy(e);
    cost.baselineEnergy = bitParallelEvents(layer, layout, cost.baselineCycles).energy(e);

    const double laneCycles = cost.cycles * g.columns * g.rows * g.lanes * g.tiles;
    cost.extra["activation_precision"] = pa;
    cost.extra["weight_precision"] = layer.weights.bits;
    cost.extra["rows_per_filter"] = rowsPerFilter;
    cost.extra["precision_source"] = source;
    cost.extra["fc_rule"] = fcRule;
    cost.extra["stall_cycles"] = static_cast<double>(stall);
    // Busy lane cycles: every MAC streams Pa activation bits, each on one lane for a cycle.
    cost.extra["utilisation"] =
        laneCycles > 0 ? static_cast<double>(layer.macs()) * pa * rowsPerFilter / laneCycles : 0.0;
    cost.extra["events"] = events.toJson();
    return cost;
}

std::unique_ptr<CostModel> makeStripesCostModel() {
    return std::make_unique<StripesCostModel>();
}

} // namespace qs::core
