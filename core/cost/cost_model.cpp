// SPDX-License-Identifier: MIT
#include "cost/cost_model.h"

#include <cmath>

namespace qs::core {

nlohmann::json LayerCost::toJson() const {
    nlohmann::json j = {{"name", name},
                        {"baseline_cycles", baselineCycles},
                        {"cycles", cycles},
                        {"speedup", speedup()},
                        {"potential_speedup", potentialSpeedup},
                        {"energy", energy},
                        {"baseline_energy", baselineEnergy}};
    for (const auto& [k, v] : extra.items()) j[k] = v;
    return j;
}

nlohmann::json totalCost(const std::vector<LayerCost>& layers) {
    double base = 0, cycles = 0, energy = 0, baseEnergy = 0, idealCycles = 0;
    bool potentials = !layers.empty();
    int unpriced = 0;
    for (const auto& l : layers) {
        if (!std::isfinite(l.cycles)) { // a layer the model could not price (e.g. an unset MAC-cost entry)
            ++unpriced;
            continue;
        }
        base += l.baselineCycles;
        cycles += l.cycles;
        energy += l.energy;
        baseEnergy += l.baselineEnergy;
        // Potentials weight by the baseline's work: the ideal time of a layer is its baseline / potential.
        if (l.potentialSpeedup > 0) idealCycles += l.baselineCycles / l.potentialSpeedup;
        else potentials = false;
    }
    return {{"baseline_cycles", base},
            {"cycles", cycles},
            {"speedup", cycles > 0 ? base / cycles : 0.0},
            {"potential_speedup", potentials && idealCycles > 0 ? base / idealCycles : 0.0},
            {"energy", energy},
            {"baseline_energy", baseEnergy},
            {"energy_efficiency", energy > 0 ? baseEnergy / energy : 0.0},
            {"unpriced_layers", unpriced}};
}

} // namespace qs::core
