// SPDX-License-Identifier: MIT
// FP vs INT multiply-accumulate cost (../shared/specs/cost-models.md §12): a user-editable table
// mac_cost[format][accumulator] = {area, energy} relative to INT8 x INT8 with an INT32 accumulator, the
// way the cost models name a layer's formats, and the "macs" cost model that prices layers with it.
//
// Sources of the seeded entries (spec §12). van Baalen et al., "FP8 versus INT8 for efficient deep learning
// inference" (Qualcomm, arXiv 2303.17951): its abstract puts FP8 MACs at 50-180 % more compute hardware than
// INT8 in dedicated inference hardware. Two secondary summaries of its hardware section agree on the anchor
// points: FP8-E4M3 with an FP16 accumulator = 1.53 x INT8/INT32 ("53 % more gates"; a repository note,
// search-index file 71055662040) and FP8 with FP32 accumulation = +183 % = 2.83 x (a Chinese FP8 survey,
// file 33798869418, §7.2). Each source gives one cost figure per point; we seed it as both area and energy
// (same-throughput hardware whose gates cost more burns proportionally more). The paper's per-format table
// (INT4, INT16, FP16, E5M2) was not recoverable: those entries are seeded unset (null) and every layer that
// needs one is reported "unset", never priced as 1, until a user fills the table.
#pragma once
#include "base/param_schema.h"
#include "cost/cost_model.h"
#include "cost/grid_params.h"

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qs::core {

/// What a multiplier or a dequantising kernel does with a format's elements.
enum class CostFormatFamily { Integer, Float, Codebook, Unknown };

/// A CostLayer format name (OperandCodes::format) as the cost models see it.
struct CostFormat {
    std::string name;    ///< as given: "mxfp8_e4m3", "native", "gptvq" ...
    std::string element; ///< the element format a MAC sees: "fp8_e4m3" for MX/NV blocks, "int8", "fp16", "nf4", "vq"
    CostFormatFamily family = CostFormatFamily::Unknown;
    int bits = 0; ///< element bits; 0 when unknown (code books of any size, unknown names)
};

/// Classifies a format name: rows of the format table (MX/NV block formats by their element format),
/// "native" as `nativeFormat`, "int<k>", "fp16"/"bf16"/"fp32" (and their long spellings), any name holding
/// "vq" as a vector-quantized code book. Unknown names give family Unknown, element = name.
CostFormat classifyCostFormat(std::string_view name, std::string_view nativeFormat = "fp16");

/// One table entry relative to the table's int8/int32 entry; nullopt = unset (not yet sourced).
struct MacCostEntry {
    std::optional<double> area, energy;
};

/// mac_cost[format][accumulator]. Values may be relative or absolute: prices divide by the int8/int32 entry.
class MacCostTable {
public:
    /// §12's seed: int8/int32 = 1, fp8_e4m3/fp16 = 1.53, fp8_e4m3/fp32 = 2.83, the other rows unset.
    static MacCostTable seeded();
    /// {"fmt": {"acc": {"area": x, "energy": y} | null}} (area/energy may be null); throws Error naming the entry.
    static MacCostTable fromJson(const nlohmann::json& j);
    /// The "mac_cost" parameter: empty = the seed; JSON object text or a path to a JSON file, merged over the seed.
    static MacCostTable fromParam(const std::string& text);
    nlohmann::json toJson() const;
    /// Entries of `overrides` replace this table's (an unset entry there sets it unset here).
    void merge(const MacCostTable& overrides);

    bool hasRow(std::string_view format) const;
    std::vector<std::string> rows() const;
    /// nullptr when the row or its accumulator column is absent.
    const MacCostEntry* find(std::string_view format, std::string_view accumulator) const;

private:
    std::map<std::string, std::map<std::string, MacCostEntry, std::less<>>, std::less<>> rows_;
};

/// Which accumulator a MAC row is priced at, and what "native" means.
struct MacPricingOptions {
    std::string intAccumulator = "int32"; ///< column for integer rows
    std::string fpAccumulator = "fp32";   ///< column for float rows
    std::string nativeFormat = "fp16";    ///< the format "native" (unquantized) operands run at
    static MacPricingOptions fromParams(const nlohmann::json& p);
};

/// The price of one layer's MAC. The MAC runs at the wider operand's row (at equal width a float row:
/// an FP x INT multiply needs the float datapath).
struct MacPrice {
    CostFormat weight, activation;
    std::string weightRow, activationRow; ///< table rows the operands map to ("" = none)
    std::string row, accumulator;         ///< where the MAC is priced
    std::optional<double> area, energy;   ///< relative to int8/int32; nullopt = not priced
    std::string status;                   ///< "priced" | "unset" (entry present, null) | "unpriced" (no row/column)
    std::string note;                     ///< why it is not priced
    /// {"weight_format", "activation_format", "weight_row", "activation_row", "mac_row", "accumulator",
    ///  "area_ratio", "energy_ratio" (null when unknown), "mac_cost_status", "mac_cost_note"}.
    nlohmann::json toJson() const;
};

/// Maps the layer's weight and activation formats to table rows (the exact name, then the element format,
/// then for integers the narrowest "int<k>" row with k >= bits) and looks the MAC up.
MacPrice priceMac(const MacCostTable& table, const CostLayer& layer, const MacPricingOptions& options);

/// Values a layer stores and moves: weights F*(C/groups)*KY*KX, inputs M*C*NY*NX, outputs M*F*OY*OX.
struct LayerValueCounts {
    double weights = 0, inputs = 0, outputs = 0;
};
LayerValueCounts layerValueCounts(const CostLayer& layer);

/// Energy (pJ) of the reference INT8 x INT8 MAC with an INT32 accumulator from the shared constants: an 8-bit
/// multiplier is a quarter of e_mac's 16 x 16 one (Horowitz: cost ~ bits^2, spec §11) plus one accumulate.
double int8MacEnergy(const EnergyParams& e);

/// The energy of one MAC of a layer: the table's ratio x int8MacEnergy when priced; otherwise, for models that
/// must still rank mappings, the bits^2 rule e_mac * wbits * abits / 256 + e_accumulate, said so in `source`.
struct MacEnergy {
    double pj = 0;
    std::string source; ///< "mac_cost table" | "bits^2 rule (mac_cost: <status>)"
};
MacEnergy macEnergy(const MacPrice& price, const CostLayer& layer, const EnergyParams& e);

/// mac_cost (Text), int_accumulator, fp_accumulator, native_format: the table parameters every model that
/// prices MACs takes.
ParamSchema macCostSchema();

/// "macs": a compute-bound layer on an array of equal area: the INT8 array does macs_per_cycle MACs per cycle,
/// an FP array area_ratio times fewer; compute energy scales by energy_ratio; traffic uses the stored bits per
/// value (weights, input and output activations); cycles = max(compute, traffic / dram_bytes_per_cycle).
/// Baseline: the same layer in INT8 (8 bits per value) on the INT8 array. Unpriced layers report NaN
/// cycles/energy (null in JSON) and the reason in extra, never a guessed ratio.
class MacCostModel final : public CostModel {
public:
    std::string_view name() const override { return "macs"; }
    std::string_view summary() const override {
        return "FP vs INT MAC area/energy (Qualcomm whitepaper table, user-editable) at equal area";
    }
    const ParamSchema& params() const override;
    bool needsActivations() const override { return false; }
    bool needsWeights() const override { return false; }
    LayerCost layer(const CostLayer& layer, const nlohmann::json& params) const override;
};

std::unique_ptr<CostModel> makeMacCostModel();

} // namespace qs::core
