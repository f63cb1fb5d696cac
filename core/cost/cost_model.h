// SPDX-License-Identifier: MIT
// The cost-model registry's entry: a model declares its parameters once (CLI flags, GUI form and
// stored settings come from the schema) and turns one layer into cycles, energy and its own figures.
#pragma once
#include "base/param_schema.h"
#include "cost/cost_layer.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace qs::core {

/// The cost of one layer on a design, against the design's own baseline (for the value-dependent
/// accelerators: the bit-parallel engine of equal peak; for decode: the same model in fp16).
struct LayerCost {
    std::string name;
    double baselineCycles = 0;
    double cycles = 0;
    /// Ideal work reduction (DNNsim's "potentials": pairs*B^2 / sum of bits); 0 when the model has none.
    double potentialSpeedup = 0;
    double energy = 0;         ///< pJ
    double baselineEnergy = 0; ///< pJ
    nlohmann::json extra = nlohmann::json::object(); ///< the model's own per-layer figures

    double speedup() const { return cycles > 0 ? baselineCycles / cycles : 0; }
    /// {"name", "baseline_cycles", "cycles", "speedup", "potential_speedup", "energy", "baseline_energy", ...extra}
    nlohmann::json toJson() const;
};

/// Facts about the whole model, for models that price more than its matrices (decode: KV cache,
/// embeddings, layer count).
struct CostModelContext {
    bool causalLm = false;
    int layers = 0, hidden = 0, heads = 0, kvHeads = 0, headDim = 0, vocab = 0;
    std::int64_t totalParams = 0;
    double otherWeightBytes = 0; ///< parameters outside the costed layers (embeddings, norms), as stored
    double kvBits = 16;          ///< stored bits per KV-cache value (recipe's kv spec, scales included)
};

class CostModel {
public:
    virtual ~CostModel() = default;
    /// Registry key and --model value, e.g. "loom".
    virtual std::string_view name() const = 0;
    /// One line for listings.
    virtual std::string_view summary() const = 0;
    /// Its parameters (validated with validateParams before use); "mode" (paper|dnnsim) where the
    /// model has both readings.
    virtual const ParamSchema& params() const = 0;
    /// Whether it reads the activation codes (else they are not captured).
    virtual bool needsActivations() const { return true; }
    /// Whether it reads the weight codes (else only the loop bounds and stored bits).
    virtual bool needsWeights() const { return true; }
    /// The cost of one layer; deterministic. Throws Error for a layer it cannot price.
    virtual LayerCost layer(const CostLayer& layer, const nlohmann::json& params) const = 0;
    /// Whole-model figures reported beside the total (decode: tokens/s), or null.
    virtual nlohmann::json modelFigures(const std::vector<LayerCost>& layers, const CostModelContext& context,
                                        const nlohmann::json& params) const {
        (void)layers, (void)context, (void)params;
        return nullptr;
    }
};

/// Sums per-layer costs: {"baseline_cycles", "cycles", "speedup" (= sum of baselines / sum of cycles,
/// not a mean of ratios), "potential_speedup" (work-weighted), "energy", "baseline_energy",
/// "energy_efficiency", "unpriced_layers" (layers whose cycles are not finite, left out of the sums)}.
nlohmann::json totalCost(const std::vector<LayerCost>& layers);

} // namespace qs::core
