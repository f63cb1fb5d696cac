// SPDX-License-Identifier: MIT
// One mapping of a layer's loop nest onto DRAM -> global buffer -> PE array (+ per-PE registers), and its
// traffic, cycles and energy (../shared/specs/cost-models.md §14, Timeloop's analytical model in small).
// The search over mappings is in cost/mapping.h.
#pragma once
#include "cost/cost_layer.h"

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace qs::core {

/// One loop of the problem.
struct LoopDim {
    std::string name; ///< "M", "K", "P" ...
    std::int64_t size = 1;
};

/// One axis of a tensor: its index is sum of coefficient x loop index; a tile whose loops span t_d values
/// spans sum coefficient x (t_d - 1) + 1 (a conv input row is stride * p + r).
struct TensorAxis {
    std::vector<std::pair<int, int>> terms; ///< {dim, coefficient}
};

/// An operand or the result of the nest.
struct LoopTensor {
    std::string name;
    std::vector<TensorAxis> axes;
    double bits = 8;     ///< stored bits per value off chip
    bool output = false; ///< accumulated: partial sums travel at psumBits, re-read when a tile returns
    /// Whether any axis reads loop `dim` (a loop it does not index can reuse its tile: stationarity).
    bool indexes(int dim) const;
};

/// A perfect loop nest of multiply-accumulates.
struct LoopProblem {
    std::string kind; ///< "matmul" | "conv"
    std::vector<LoopDim> dims;
    std::vector<LoopTensor> tensors;
    double psumBits = 32;       ///< partial sums in the buffer and registers
    std::int64_t instances = 1; ///< independent copies run one after another (conv groups)
    double macs() const;        ///< of one instance
    /// Values of a tensor whose loops span extent[d] per dim.
    double tileElements(const LoopTensor& t, const std::vector<std::int64_t>& extent) const;
};

/// Matmul Outputs[M][N] += Inputs[M][K] * Weights[K][N].
LoopProblem matmulProblem(std::int64_t M, std::int64_t N, std::int64_t K, double inputBits, double weightBits,
                          double outputBits, double psumBits);
/// Conv Outputs[N][K][P][Q] += Inputs[N][C][P*stride + R][Q*stride + S] * Weights[K][C][R][S].
LoopProblem convProblem(std::int64_t N, std::int64_t K, std::int64_t C, std::int64_t P, std::int64_t Q, std::int64_t R,
                        std::int64_t S, int stride, double inputBits, double weightBits, double outputBits,
                        double psumBits);
/// A cost layer's nest: FC as matmul (M rows, N = F, K = C), conv per group (instances = groups); inputs and
/// outputs at activationStoredBits, weights at weightStoredBits.
LoopProblem loopProblemOf(const CostLayer& layer, double psumBits);

/// Where a loop factor sits, outermost first.
enum MapLevel : int { kDramLevel = 0, kBufferLevel = 1, kSpatialLevel = 2, kRegisterLevel = 3 };

/// A mapping: per dim the factors at each level (their product is the dim's size), the dims unrolled on the
/// array's two axes, and the order of the temporal loops at the DRAM and buffer levels.
struct Mapping {
    std::vector<std::array<std::int64_t, 4>> factors; ///< [dim][MapLevel]
    int spatialX = -1, spatialY = -1;                 ///< dim on each array axis, -1 = none
    std::vector<int> dramOrder, bufferOrder;          ///< dims of the level's loops, outermost first
};

/// The memory hierarchy and its energies.
struct Hierarchy {
    int arrayX = 16, arrayY = 16;
    double bufferBytes = 128 * 1024;   ///< global buffer capacity
    double registerBytes = 64;         ///< per PE
    double dramBytesPerCycle = 32;     ///< DRAM <-> buffer
    double bufferBytesPerCycle = 256;  ///< buffer <-> array
    double eDramByte = 20, eBufferByte = 0.1, eRegisterByte = 0.02; ///< pJ per byte moved or accessed
    double eMac = 0.35;                ///< pJ per MAC at the layer's formats
};

/// Bytes crossing one boundary per tensor: reads toward the MACs, writes back outward (outputs).
struct TensorTraffic {
    std::string tensor;
    double reads = 0, writes = 0;
};

/// Everything one mapping costs. Traffic and energy cover all instances.
struct MappingCost {
    bool fits = true;
    std::string whyNot;                     ///< capacity or shape violation when !fits
    double bufferUse = 0, registerUse = 0;  ///< bytes of the tiles held
    std::vector<TensorTraffic> dram;        ///< DRAM <-> buffer
    std::vector<TensorTraffic> buffer;      ///< buffer <-> array
    double dramBytes = 0, bufferBytes = 0;  ///< totals of the two boundaries
    double registerBytes = 0;               ///< register accesses: fills plus every MAC's operands
    double macs = 0;
    double computeCycles = 0, dramCycles = 0, bufferCycles = 0, cycles = 0;
    double macEnergy = 0, dramEnergy = 0, bufferEnergy = 0, registerEnergy = 0, energy = 0;
    std::int64_t activePes = 0;
    double utilisation = 0; ///< active PEs / array PEs
    /// "compute" | "dram" | "buffer": the term that sets cycles.
    std::string bound() const;
    double edp() const { return energy * cycles; }
    /// {"cycles", "energy", "edp", "dram_bytes", "buffer_bytes", "register_bytes", "utilisation", "active_pes",
    ///  "bound", "accesses": {"dram": {tensor: {reads, writes}}, "buffer": {...}, "registers": bytes},
    ///  "energy_breakdown": {...}, "buffer_use", "register_use"}.
    nlohmann::json toJson() const;
};

/// What a mapping's tiles hold (orders aside): bytes of the buffer tile and of one PE's register tile
/// (partial sums at psumBits), and whether they and the array unrolling fit (§14 (4)).
struct MappingFootprint {
    double bufferUse = 0, registerUse = 0;
    bool fits = true;
    std::string whyNot;
};
MappingFootprint mappingFootprint(const LoopProblem& problem, const Hierarchy& hierarchy, const Mapping& mapping);

/// The cost of a mapping (§14 (4)-(6)): tiles over capacity make it !fits (still costed). Traffic at a boundary:
/// a tensor's tile is fetched once per iteration of the loops above it, except the trailing (innermost) loops
/// over dims it does not index, which reuse it; the array's tile is the union over PEs (one buffer read
/// multicasts to PEs that share it; partial outputs reduce across PEs). Outputs return partial sums at psumBits
/// whenever a tile comes back; final values leave DRAM's boundary at their own bits.
/// cycles = max(MACs / active PEs, DRAM bytes / its bandwidth, buffer bytes / its bandwidth);
/// energy = DRAM, buffer and register bytes x their energies + MACs x eMac.
/// Throws Error when the factors do not multiply to the dims or an order misses a non-unit loop.
MappingCost evaluateMapping(const LoopProblem& problem, const Hierarchy& hierarchy, const Mapping& mapping);

/// The nest as text, one loop per line, indented, outermost first:
/// "for K in [0:4)  (DRAM)", "par-for N in [0:16)  (array x)", "for K in [0:4)  (registers)"; every dim of the
/// problem appears (a dim of size 1 as one registers loop of bound 1), the MAC last.
std::string nestText(const LoopProblem& problem, const Mapping& mapping);
/// One line: "DRAM[K4 N2] buffer[M8] array[N16 x M16] regs[K4]".
std::string mappingSummary(const LoopProblem& problem, const Mapping& mapping);
/// {"factors": {dim: [dram, buffer, spatial, registers]}, "array_x", "array_y", "dram_order", "buffer_order"}.
nlohmann::json mappingJson(const LoopProblem& problem, const Mapping& mapping);

} // namespace qs::core
