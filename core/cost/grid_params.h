// SPDX-License-Identifier: MIT
// The parameters the designs share, declared once: DNNsim's tile grid, the paper/dnnsim mode and
// the energy constants (../shared/specs/cost-models.md §0, §11, §15). A model's schema concatenates
// the parts it reads.
#pragma once
#include "base/param_schema.h"

#include <nlohmann/json.hpp>

namespace qs::core {

/// The accelerator grid: lanes L (products per PE per cycle), columns W (windows in flight), rows R
/// (filters per tile), tiles T, baseline bits B (0 = the layer's operand width).
struct TileGrid {
    int lanes = 16, columns = 16, rows = 16, tiles = 16, baselineBits = 16;
    static TileGrid fromParams(const nlohmann::json& p);
};
/// lanes, columns, rows, tiles, baseline_bits.
ParamSchema tileGridSchema();

/// "mode": paper (the paper's ideal rules) | dnnsim (DNNsim-compatible: raster window sets, lock step,
/// min-1, DNNsim booth).
ParamSpec modeParam();
/// True when params["mode"] == "dnnsim".
bool dnnsimMode(const nlohmann::json& p);

/// Energy constants in pJ (all parameters; spec §11): per bit-serial lane cycle, per bit-parallel
/// MAC, per SRAM bit read, per accumulator update, per DRAM byte.
struct EnergyParams {
    double laneCycle = 1.0 / 16, mac = 1.0, sramBit = 0.0125, accumulate = 0.1, dramByte = 20.0;
    static EnergyParams fromParams(const nlohmann::json& p);
};
/// e_lane_cycle, e_mac, e_sram_bit, e_accumulate, e_dram_byte.
ParamSchema energySchema();

/// Concatenates schemas (a model's own parameters with the shared parts it reads).
ParamSchema joinSchemas(std::initializer_list<ParamSchema> parts);

} // namespace qs::core
