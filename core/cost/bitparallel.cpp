// SPDX-License-Identifier: MIT
#include "cost/bitparallel.h"

#include "cost/bit_grid.h"

namespace qs::core {

const ParamSchema& BitParallelCostModel::params() const {
    static const ParamSchema schema = joinSchemas({tileGridSchema(), energySchema()});
    return schema;
}

LayerCost BitParallelCostModel::layer(const CostLayer& layer, const nlohmann::json& params) const {
    const GridLayout layout = gridLayout(layer, TileGrid::fromParams(params));
    const TileGrid& g = layout.grid;
    LayerCost cost;
    cost.name = layer.name;
    cost.baselineCycles = cost.cycles = layout.bitParallelCycles(); // §1
    cost.potentialSpeedup = 1;                                      // §10: B*B bits per pair
    const GridEvents events = bitParallelEvents(layer, layout, cost.cycles);
    cost.energy = cost.baselineEnergy = events.energy(EnergyParams::fromParams(params));
    const double slots = cost.cycles * g.tiles * g.rows * g.lanes;
    cost.extra["macs"] = static_cast<double>(layer.macs());
    cost.extra["utilisation"] = slots > 0 ? static_cast<double>(layer.macs()) / slots : 0.0;
    cost.extra["events"] = events.toJson();
    return cost;
}

std::unique_ptr<CostModel> makeBitParallelCostModel() {
    return std::make_unique<BitParallelCostModel>();
}

} // namespace qs::core
