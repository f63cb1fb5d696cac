// SPDX-License-Identifier: MIT
#include "cost/grid_params.h"

namespace qs::core {

TileGrid TileGrid::fromParams(const nlohmann::json& p) {
    TileGrid g;
    g.lanes = p.value("lanes", g.lanes);
    g.columns = p.value("columns", g.columns);
    g.rows = p.value("rows", g.rows);
    g.tiles = p.value("tiles", g.tiles);
    g.baselineBits = p.value("baseline_bits", g.baselineBits);
    return g;
}

ParamSchema tileGridSchema() {
    // DNNsim's defaults (examples/*/README.md): a 16 x 16 x 16 x 16 grid, 16-bit baseline.
    return {
        {"lanes", ParamType::Int, 16, 1, 4096, {}, "products summed per PE per cycle (L)", "Lanes"},
        {"columns", ParamType::Int, 16, 1, 4096, {}, "windows in flight per tile (W; = B keeps peak parity)", "Columns"},
        {"rows", ParamType::Int, 16, 1, 4096, {}, "filters per tile (R)", "Rows"},
        {"tiles", ParamType::Int, 16, 1, 4096, {}, "tiles (T)", "Tiles"},
        {"baseline_bits", ParamType::Int, 16, 1, 32, {}, "bit-parallel baseline width B", "Baseline bits"},
    };
}

ParamSpec modeParam() {
    return {"mode", ParamType::Choice, "paper", 0, 0, {"paper", "dnnsim"},
            "paper: the papers' rules; dnnsim: DNNsim-compatible (raster window sets, lock step, min-1, its booth)",
            "Mode"};
}

bool dnnsimMode(const nlohmann::json& p) { return p.value("mode", std::string("paper")) == "dnnsim"; }

EnergyParams EnergyParams::fromParams(const nlohmann::json& p) {
    EnergyParams e;
    e.laneCycle = p.value("e_lane_cycle", e.laneCycle);
    e.mac = p.value("e_mac", e.mac);
    e.sramBit = p.value("e_sram_bit", e.sramBit);
    e.accumulate = p.value("e_accumulate", e.accumulate);
    e.dramByte = p.value("e_dram_byte", e.dramByte);
    return e;
}

ParamSchema energySchema() {
    // Our model (spec §11): DNNsim counts events only. A 16b x 16b MAC about 1 pJ at 45 nm (Horowitz:
    // 8-bit mult 0.2 pJ, cost ~ bits^2), a bit-serial lane cycle 1/16 of it; SRAM 8 kB 64-bit access
    // ~10 pJ -> ~0.16 pJ/bit, taken lower for small buffers; DRAM ~20 pJ/byte (LPDDR-class).
    const EnergyParams d;
    return {
        {"e_lane_cycle", ParamType::Float, d.laneCycle, 0, 1e6, {}, "pJ per bit-serial lane cycle (busy or idle)", "Lane cycle pJ"},
        {"e_mac", ParamType::Float, d.mac, 0, 1e6, {}, "pJ per bit-parallel B x B MAC", "MAC pJ"},
        {"e_sram_bit", ParamType::Float, d.sramBit, 0, 1e6, {}, "pJ per on-chip buffer bit read", "SRAM pJ/bit"},
        {"e_accumulate", ParamType::Float, d.accumulate, 0, 1e6, {}, "pJ per accumulator update", "Accumulate pJ"},
        {"e_dram_byte", ParamType::Float, d.dramByte, 0, 1e9, {}, "pJ per off-chip byte", "DRAM pJ/byte"},
    };
}

ParamSchema joinSchemas(std::initializer_list<ParamSchema> parts) {
    ParamSchema all;
    for (const auto& p : parts) all.insert(all.end(), p.begin(), p.end());
    return all;
}

} // namespace qs::core
