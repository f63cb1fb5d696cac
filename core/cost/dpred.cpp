// SPDX-License-Identifier: MIT
#include "cost/dpred.h"

#include "base/error.h"
#include "cost/bit_grid.h"
#include "cost/loom.h"

#include <algorithm>
#include <bit>

namespace qs::core {

namespace {

struct ActivationCycles {
    double cycles = 0, stall = 0, meanPrecision = 0;
    int groups = 1;
};

// §4.2 / §4.3: the activations-only engine.
ActivationCycles activationOnlyCycles(const CostLayer& layer, const GridLayout& layout, int groupSize,
                                      int columnRegisters, const PrecisionRule& rule) {
    requireActivations(layer);
    const std::int64_t filterSets = layout.filterSets();
    double precisionSum = 0, steps = 0;
    ActivationCycles r;
    const int windowsPerGroup = layout.fcQueue ? 1 : std::max(1, groupSize / layout.grid.lanes);
    // Steps are priced in parallel (each worker its own buffers), then combined in order: a step's group
    // precisions, groups without windows this step 0.
    const auto makePricer = [&] {
        return [&, codes = std::vector<std::int32_t>(), groups = std::vector<int>()](const GridStep& step,
                                                                                    int* out) mutable {
            gatherStepActivations(layer, layout, step, codes);
            blockGroupPrecisions(codes, step.windowCount, step.laneCount, windowsPerGroup, rule, groups);
            std::copy(groups.begin(), groups.end(), out);
        };
    };
    if (layout.fcQueue) {
        FcIssueQueue queue(layout.grid.columns);
        for (std::int64_t row = 0; row < layout.images; ++row)
            priceSteps(layout, row, 1, makePricer, [&](const GridStep&, const int* p) {
                precisionSum += *p, ++steps;
                queue.issue(*p);
            });
        r.cycles = queue.cycles(filterSets);
        r.stall = static_cast<double>(queue.stallCycles() * filterSets);
    } else {
        r.groups = (layout.grid.columns + windowsPerGroup - 1) / windowsPerGroup;
        for (std::int64_t image = 0; image < layout.images; ++image) {
            ColumnSync sync(r.groups, columnRegisters); // DNNsim restarts the columns per image
            priceSteps(layout, image, r.groups, makePricer, [&](const GridStep& step, const int* p) {
                const int used = (step.windowCount + windowsPerGroup - 1) / windowsPerGroup;
                precisionSum += *std::max_element(p, p + used), ++steps;
                sync.step(std::span<const int>(p, static_cast<std::size_t>(r.groups)));
            });
            r.cycles += static_cast<double>(sync.cycles() * filterSets);
            r.stall += static_cast<double>(sync.stallCycles() * filterSets);
        }
    }
    r.meanPrecision = steps > 0 ? precisionSum / steps : 0.0;
    return r;
}

int headerBits(int baselineBits) {
    return std::bit_width(static_cast<unsigned>(std::max(1, baselineBits) - 1));
}

} // namespace

double compressedBytes(const OperandCodes& operand, std::int64_t channels, std::int64_t inner, int groupSize,
                       int baselineBits, bool twosComplement) {
    if (channels <= 0 || inner <= 0) return 0;
    const PrecisionRule rule{twosComplement, operand.isSigned, false}; // decodable: leading bits only
    const auto size = static_cast<std::int64_t>(operand.codes.size());
    const std::int64_t outer = size / (channels * inner);
    const int h = headerBits(baselineBits);
    // Integer bits per outer index, summed in parallel; their total is exact, as the serial sum of doubles was.
    std::vector<std::int64_t> outerBits(static_cast<std::size_t>(std::max<std::int64_t>(0, outer)), 0);
    parallelChunks(outer, std::max<std::int64_t>(1, 65536 / (channels * inner)), [&](std::int64_t begin,
                                                                                      std::int64_t end) {
        std::vector<std::int32_t> group;
        for (std::int64_t o = begin; o < end; ++o) {
            std::int64_t sum = 0;
            for (std::int64_t i = 0; i < inner; ++i)
                for (std::int64_t c0 = 0; c0 < channels; c0 += groupSize) {
                    group.clear();
                    for (std::int64_t c = c0; c < std::min(channels, c0 + groupSize); ++c)
                        group.push_back(operand.codes[static_cast<std::size_t>((o * channels + c) * inner + i)]);
                    sum += h + static_cast<std::int64_t>(group.size()) * rule.of(group);
                }
            outerBits[static_cast<std::size_t>(o)] = sum;
        }
    });
    double bits = 0;
    for (const std::int64_t b : outerBits)
        bits += static_cast<double>(b);
    return bits / 8.0;
}

const ParamSchema& DpredCostModel::params() const {
    static const ParamSchema schema = joinSchemas(
        {{{"variant",
           ParamType::Choice,
           "activations",
           0,
           0,
           {"activations", "weights_activations"},
           "activations: dynamic activation precision on the Stripes grid; weights_activations: both bit-serial, "
           "per-group weight precision too",
           "Variant"},
          groupSizeParam("; 256 = DNNsim 2019's unset default"),
          columnRegistersParam(),
          precisionFormParam(),
          trimLsbParam()},
         tileGridSchema(),
         {modeParam()},
         energySchema()});
    return schema;
}

LayerCost DpredCostModel::layer(const CostLayer& layer, const nlohmann::json& params) const {
    const GridLayout layout = gridLayout(layer, TileGrid::fromParams(params));
    const TileGrid& g = layout.grid;
    const double b = g.baselineBits;
    const bool bothOperands = params.value("variant", std::string("activations")) == "weights_activations";
    const int groupSize = params.value("precision_group", 16);
    const bool dnnsim = dnnsimMode(params);
    const PrecisionRule actRule = precisionRuleFromParams(params, layer.activations.isSigned);
    const PrecisionRule wgtRule = precisionRuleFromParams(params, layer.weights.isSigned);
    requireActivations(layer);
    requireWeights(layer);

    LayerCost cost;
    cost.name = layer.name;
    const EnergyParams e = EnergyParams::fromParams(params);
    GridEvents events, baseEvents;
    double stall = 0, meanPrecision = 0, stallDenominator = 0;
    if (bothOperands) {
        SerialPairOptions o;
        o.activationRule = actRule;
        o.weightRule = wgtRule;
        o.activationGroup = o.weightGroup = groupSize;
        o.dynamicWeights = true; // chosen offline per group: the codes' group precision
        const SerialPairCycles r = serialPairCycles(layer, layout, o);
        cost.cycles = r.cycles;
        cost.baselineCycles = equalPeakBaselineCycles(layout, 1);
        stall = r.stallCycles;
        meanPrecision = r.meanActivationPrecision;
        stallDenominator = cost.cycles * g.tiles;
        events = bitSerialEvents(layer, layout, cost.cycles, 1, 1.0 / b);
        baseEvents = equalPeakBaselineEvents(layer, layout, 1);
    } else {
        const ActivationCycles r =
            activationOnlyCycles(layer, layout, groupSize, params.value("column_registers", 0), actRule);
        cost.cycles = r.cycles;
        cost.baselineCycles = layout.bitParallelCycles();
        stall = r.stall;
        meanPrecision = r.meanPrecision;
        stallDenominator = cost.cycles * (layout.fcQueue ? 1 : r.groups);
        events = bitSerialEvents(layer, layout, cost.cycles);
        baseEvents = bitParallelEvents(layer, layout, cost.baselineCycles);
    }

    // §10 potentials.
    const double pairs = static_cast<double>(layer.macs());
    const auto aWidth = [&actRule](std::int32_t v) { return actRule.ofValue(v); };
    const auto wWidth = [&wgtRule](std::int32_t v) { return wgtRule.ofValue(v); };
    double bits = 0;
    if (bothOperands)
        bits = sumPairs(layer, aWidth, wWidth);
    else if (dnnsim && !actRule.twosComplement)
        bits = pairs * std::max(1, layer.activations.bits) * b; // DNNsim 2019
    else
        bits = sumActivationPairs(layer, aWidth) * b;
    cost.potentialSpeedup = bits > 0 ? pairs * b * b / bits : 0.0;

    // Off-chip footprint (§4.1, §11c): weights [F][C/groups][KY*KX], activations [M][C][NY*NX].
    const bool twos = actRule.twosComplement;
    const double wCompressed =
        compressedBytes(layer.weights, layer.C / std::max(1, layer.groups),
                        static_cast<std::int64_t>(layer.KY) * layer.KX, groupSize, g.baselineBits, twos);
    const double aCompressed = compressedBytes(
        layer.activations, layer.C, static_cast<std::int64_t>(layer.NY) * layer.NX, groupSize, g.baselineBits, twos);
    const double wPlain = static_cast<double>(layer.weights.codes.size()) * layer.weights.bits / 8.0;
    const double aPlain = static_cast<double>(layer.activations.codes.size()) * layer.activations.bits / 8.0;
    events.dramBytes = wCompressed + aCompressed;
    cost.energy = events.energy(e);
    cost.baselineEnergy = baseEvents.energy(e);

    cost.extra["variant"] = bothOperands ? "weights_activations" : "activations";
    cost.extra["activation_precision"] = meanPrecision;
    cost.extra["stall_cycles"] = stall;
    cost.extra["stall_fraction"] = stallDenominator > 0 ? stall / stallDenominator : 0.0;
    cost.extra["weight_bytes_compressed"] = wCompressed;
    cost.extra["weight_bytes_uncompressed"] = wPlain;
    cost.extra["activation_bytes_compressed"] = aCompressed;
    cost.extra["activation_bytes_uncompressed"] = aPlain;
    cost.extra["footprint_ratio"] = wPlain + aPlain > 0 ? (wCompressed + aCompressed) / (wPlain + aPlain) : 0.0;
    cost.extra["fc_rule"] = layoutPath(layout);
    cost.extra["mode"] = dnnsim ? "dnnsim" : "paper";
    cost.extra["events"] = events.toJson();
    return cost;
}

std::unique_ptr<CostModel> makeDpredCostModel() {
    return std::make_unique<DpredCostModel>();
}

} // namespace qs::core
