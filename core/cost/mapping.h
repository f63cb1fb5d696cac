// SPDX-License-Identifier: MIT
// The loop-nest mapping explorer (../shared/specs/cost-models.md §14, Timeloop / PolyTOPS in small): it
// enumerates tilings, array unrollings and loop orders of one layer on DRAM -> global buffer -> PE array
// (+ registers), costs each with cost/loop_nest.h and keeps the best under an objective.
#pragma once
#include "cost/cost_model.h"
#include "cost/loop_nest.h"

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace qs::core {

enum class MappingObjective { Cycles, Energy, Edp, Dram };
/// "cycles", "energy", "edp", "dram"; throws Error for another name.
MappingObjective mappingObjectiveFromName(std::string_view name);
/// The figure a mapping is ranked by (lower is better).
double objectiveValue(const MappingCost& cost, MappingObjective objective);

struct MapperOptions {
    MappingObjective objective = MappingObjective::Edp;
    std::uint64_t maxMappings = 20000; ///< mappings (tiling x unrolling x orders) costed at most
    int topK = 5;
};

struct RankedMapping {
    Mapping mapping;
    MappingCost cost;
    double score = 0;          ///< objectiveValue
    std::uint64_t sequence = 0; ///< position in the visit order (the last tie-break)
};

struct MapperResult {
    std::vector<RankedMapping> top;     ///< best first, at most topK
    std::uint64_t tilings = 0;          ///< (array unrolling, per-dim factors) choices in the space
    std::uint64_t visited = 0;          ///< of them, looked at
    std::uint64_t overCapacity = 0;     ///< of them, rejected for buffer, register or array size
    std::uint64_t evaluated = 0;        ///< mappings costed (tilings x distinct loop orders)
    bool exhaustive = true;             ///< false when max_mappings stopped the search
};

/// Searches the space (§14 (3)): every dim's size split into divisor factors for DRAM, buffer, array and
/// registers; at most two dims on the array (one per axis, factor >= 2 and within the axis); the temporal
/// loops at the DRAM and buffer levels in every order of their non-unit loops, orders with the same reuse
/// (the same trailing run of loops each tensor ignores, at both levels) costed once. Deterministic: tilings
/// are visited in index order when they number at most maxMappings, otherwise in a fixed stride permutation
/// of the index space (spread over the whole space rather than its first corner); ties go to (cycles, energy,
/// DRAM bytes, visit order). Throws Error when no visited mapping fits.
MapperResult exploreMappings(const LoopProblem& problem, const Hierarchy& hierarchy, const MapperOptions& options);

/// The baseline for speedup: the nest as written (matmul M, N, K; conv N, K, C, P, Q, R, S), every loop at the
/// DRAM level, one PE, one value of each tensor in the buffer and registers: no reuse but what the loop
/// order gives for free (the output stays in its register across the innermost reduction loop).
Mapping naiveMapping(const LoopProblem& problem);

/// "mapping": the explorer as a cost model. cycles/energy = the best mapping's under `objective`; baseline =
/// naiveMapping on the same hierarchy. extra: "nest" (text), "mapping", "summary", "accesses", "utilisation",
/// "bound", "top" (the top-k table), "search", "mac_energy_pj" and its source (§12 table or the bits^2 rule).
class MappingCostModel final : public CostModel {
public:
    std::string_view name() const override { return "mapping"; }
    std::string_view summary() const override {
        return "loop-nest mapping explorer: tilings and orders on DRAM/buffer/PE array (Timeloop/PolyTOPS spirit)";
    }
    const ParamSchema& params() const override;
    bool needsActivations() const override { return false; }
    bool needsWeights() const override { return false; }
    LayerCost layer(const CostLayer& layer, const nlohmann::json& params) const override;
};

std::unique_ptr<CostModel> makeMappingCostModel();

} // namespace qs::core
