// SPDX-License-Identifier: MIT
#include "cost/pragmatic.h"

#include "cost/bit_grid.h"
#include "cost/term_params.h"

#include <algorithm>
#include <array>

namespace qs::core {

PragmaticShifter PragmaticShifter::fromParams(const nlohmann::json& params, TermEncoding paperEncoding) {
    return {termEncodingFromParams(params, paperEncoding), params.value("first_stage_bits", 2)};
}

int PragmaticShifter::cycles(std::span<const std::int32_t> activations) {
    masks_.resize(activations.size());
    for (std::size_t i = 0; i < activations.size(); ++i)
        masks_[i] = termPositions(activations[i], encoding_);
    return twoStageCyclesOfTerms(masks_, firstStageBits_);
}

// clang-format off
ParamSchema pragmaticSchema() {
    return {{"first_stage_bits", ParamType::Int, 2, 0, 6, {},
             "bits of the per-lane first-stage shifter (F; >= log2 B: every lane consumes a term each cycle)",
             "First-stage bits"},
            columnRegistersParam(),
            termEncodingParam()};
}
// clang-format on

const ParamSchema& PragmaticCostModel::params() const {
    static const ParamSchema schema =
        joinSchemas({pragmaticSchema(), tileGridSchema(), {modeParam()}, energySchema()});
    return schema;
}

LayerCost PragmaticCostModel::layer(const CostLayer& layer, const nlohmann::json& params) const {
    const GridLayout layout = gridLayout(layer, TileGrid::fromParams(params));
    const TileGrid& g = layout.grid;
    requireActivations(layer);
    PragmaticShifter shifter = PragmaticShifter::fromParams(params, TermEncoding::Binary); // §6: one-offsets
    const int columnRegisters = params.value("column_registers", 0);
    const std::int64_t filterSets = layout.filterSets();

    LayerCost cost;
    cost.name = layer.name;
    cost.baselineCycles = layout.bitParallelCycles();
    double stall = 0, stepCycles = 0, steps = 0;
    // Steps are priced in parallel (each worker its own buffers), then combined in order. A step's columns
    // (windows) run their PEs side by side: PragmaticShifter::cycles of each window's L activations.
    const auto makePricer = [&] {
        return [&, codes = std::vector<std::int32_t>(), masks = std::vector<std::uint64_t>()](const GridStep& step,
                                                                                             int* columns) mutable {
            gatherStepActivations(layer, layout, step, codes);
            const auto lanes = static_cast<std::size_t>(step.laneCount);
            std::array<int, kShifterBatch> cycles{};
            for (int first = 0; first < step.windowCount; first += kShifterBatch) {
                const int count = std::min(kShifterBatch, step.windowCount - first);
                masks.assign(lanes * kShifterBatch, 0); // [lane][window]; windows past count idle
                for (int w = 0; w < count; ++w)
                    for (std::size_t lane = 0; lane < lanes; ++lane)
                        masks[lane * kShifterBatch + static_cast<std::size_t>(w)] = termPositions(
                            codes[static_cast<std::size_t>(first + w) * lanes + lane], shifter.encoding());
                twoStageCyclesBatch(masks, shifter.firstStageBits(), cycles);
                std::copy_n(cycles.begin(), count, columns + first);
            }
        };
    };
    if (layout.fcQueue) {
        // §6.3: one window per row; blocks round-robin over the columns, each held for its PE cycles.
        FcIssueQueue queue(g.columns);
        for (std::int64_t row = 0; row < layout.images; ++row)
            priceSteps(layout, row, 1, makePricer, [&](const GridStep&, const int* pe) {
                stepCycles += *pe, ++steps;
                queue.issue(*pe);
            });
        cost.cycles = queue.cycles(filterSets);
        stall = static_cast<double>(queue.stallCycles() * filterSets);
    } else {
        // §6.2: per step each column (window) runs its PE over its L activations; all rows and tiles share
        // them. Columns without a window this step price 0.
        for (std::int64_t image = 0; image < layout.images; ++image) {
            ColumnSync sync(g.columns, columnRegisters); // DNNsim restarts the columns per image
            priceSteps(layout, image, g.columns, makePricer, [&](const GridStep&, const int* columns) {
                const std::span<const int> columnCycles(columns, static_cast<std::size_t>(g.columns));
                stepCycles += *std::max_element(columnCycles.begin(), columnCycles.end()), ++steps;
                sync.step(columnCycles);
            });
            cost.cycles += static_cast<double>(sync.cycles() * filterSets);
            stall += static_cast<double>(sync.stallCycles() * filterSets);
        }
    }

    // §10: terms(a) * B bits per pair, at least 1 (DNNsim's ZERO_COUNT).
    const double b = g.baselineBits;
    const TermEncoding encoding = shifter.encoding();
    const double pairs = static_cast<double>(layer.macs());
    const double bits = sumActivationPairs(
        layer, [&](std::int32_t a) { return std::max(1.0, effectualTerms(a, encoding) * b); });
    cost.potentialSpeedup = bits > 0 ? pairs * b * b / bits : 0.0;

    const EnergyParams e = EnergyParams::fromParams(params);
    const GridEvents events = bitSerialEvents(layer, layout, cost.cycles);
    cost.energy = events.energy(e);
    cost.baselineEnergy = bitParallelEvents(layer, layout, cost.baselineCycles).energy(e);

    // A term occupies one lane for one cycle per filter it meets.
    const double busy =
        sumActivationPairs(layer, [&](std::int32_t a) { return double(effectualTerms(a, encoding)); });
    const double laneCycles = cost.cycles * g.columns * g.rows * g.lanes * g.tiles;
    const double columnCyclesTotal = cost.cycles * (layout.fcQueue ? 1 : g.columns);
    cost.extra["term_encoding"] = std::string(termEncodingName(encoding));
    cost.extra["first_stage_bits"] = shifter.firstStageBits();
    cost.extra["column_registers"] = columnRegisters;
    cost.extra["mean_step_cycles"] = steps > 0 ? stepCycles / steps : 0.0;
    cost.extra["stall_cycles"] = stall;
    cost.extra["stall_fraction"] = columnCyclesTotal > 0 ? stall / columnCyclesTotal : 0.0;
    cost.extra["utilisation"] = laneCycles > 0 ? busy / laneCycles : 0.0;
    cost.extra["fc_rule"] = layoutPath(layout);
    cost.extra["mode"] = dnnsimMode(params) ? "dnnsim" : "paper";
    cost.extra["events"] = events.toJson();
    return cost;
}

std::unique_ptr<CostModel> makePragmaticCostModel() {
    return std::make_unique<PragmaticCostModel>();
}

} // namespace qs::core
