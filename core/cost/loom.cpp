// SPDX-License-Identifier: MIT
#include "cost/loom.h"

#include "base/error.h"

#include <algorithm>

namespace qs::core {

namespace {

int ceilDiv(int a, int b) {
    return (a + b - 1) / b;
}

// Slowest weight group of each (filter set, tile, kernel position, channel block); 0 for a tile without filters.
class WeightPrecisionTable {
public:
    WeightPrecisionTable(const CostLayer& layer, const GridLayout& layout, const SerialPairOptions& o)
        : layout_(layout), sets_(layout.filterSets()), tiles_(layout.grid.tiles),
          table_(static_cast<std::size_t>(sets_ * tiles_ * layout.kernelX * layout.kernelY * layout.channelBlocks), 0) {
        if (o.dynamicWeights) requireWeights(layer);
        const int filtersPerGroup = std::max(1, o.weightGroup / layout.grid.lanes);
        // (set, tile) pairs fill their own entries, in parallel.
        parallelChunks(sets_ * tiles_, 1, [&](std::int64_t begin, std::int64_t end) {
            std::vector<std::int32_t> codes;
            std::vector<int> groups;
            for (std::int64_t item = begin; item < end; ++item) {
                const std::int64_t set = item / tiles_;
                const auto tile = static_cast<int>(item % tiles_);
                const FilterRange filters = tileFilters(layout, set, tile);
                if (filters.count() == 0) continue;
                GridStep step;
                for (step.kx = 0; step.kx < layout.kernelX; ++step.kx)
                    for (step.ky = 0; step.ky < layout.kernelY; ++step.ky)
                        for (step.channelBlock = 0; step.channelBlock < layout.channelBlocks; ++step.channelBlock) {
                            int pw = o.staticWeightPrecision;
                            if (o.dynamicWeights) {
                                step.firstChannel = step.channelBlock * layout.grid.lanes;
                                step.laneCount = static_cast<int>(
                                    std::min<std::int64_t>(layout.grid.lanes, layout.channels - step.firstChannel));
                                gatherStepWeights(layer, layout, step, filters.begin, filters.count(), codes);
                                blockGroupPrecisions(codes, filters.count(), step.laneCount, filtersPerGroup,
                                                     o.weightRule, groups);
                                pw = *std::max_element(groups.begin(), groups.end());
                            }
                            at(set, tile, step.kx, step.ky, step.channelBlock) = pw;
                        }
            }
        });
    }
    int& at(std::int64_t set, int tile, int kx, int ky, std::int64_t block) {
        return table_[index(set, tile, kx, ky, block)];
    }
    int at(std::int64_t set, int tile, int kx, int ky, std::int64_t block) const {
        return table_[index(set, tile, kx, ky, block)];
    }
    std::int64_t sets() const { return sets_; }
    int tiles() const { return tiles_; }
    double meanActive() const {
        double sum = 0, n = 0;
        for (const int p : table_)
            if (p > 0) sum += p, ++n;
        return n > 0 ? sum / n : 0.0;
    }

private:
    std::size_t index(std::int64_t set, int tile, int kx, int ky, std::int64_t block) const {
        return static_cast<std::size_t>(
            (((set * tiles_ + tile) * layout_.kernelX + kx) * layout_.kernelY + ky) * layout_.channelBlocks + block);
    }
    const GridLayout& layout_;
    std::int64_t sets_;
    int tiles_;
    std::vector<int> table_;
};

// A step's slowest activation group (groups of windowsPerGroup windows), for priceSteps; own buffers.
auto activationPricer(const CostLayer& layer, const GridLayout& layout, const PrecisionRule& rule,
                      int windowsPerGroup) {
    return [&layer, &layout, &rule, windowsPerGroup, codes = std::vector<std::int32_t>(),
            groups = std::vector<int>()](const GridStep& step, int* slowest) mutable {
        gatherStepActivations(layer, layout, step, codes);
        blockGroupPrecisions(codes, step.windowCount, step.laneCount, windowsPerGroup, rule, groups);
        *slowest = *std::max_element(groups.begin(), groups.end());
    };
}

SerialPairCycles fcQueueCycles(const CostLayer& layer, const GridLayout& layout, const SerialPairOptions& o,
                               const WeightPrecisionTable& pw) {
    // A block's weights span every filter set and tile: it holds its column for the slowest of them.
    std::vector<int> blockPw(static_cast<std::size_t>(layout.channelBlocks), 0);
    for (std::int64_t set = 0; set < pw.sets(); ++set)
        for (int tile = 0; tile < pw.tiles(); ++tile)
            for (std::int64_t b = 0; b < layout.channelBlocks; ++b)
                blockPw[static_cast<std::size_t>(b)] =
                    std::max(blockPw[static_cast<std::size_t>(b)], pw.at(set, tile, 0, 0, b));
    FcIssueQueue queue(layout.grid.columns);
    double paSum = 0, steps = 0;
    for (std::int64_t row = 0; row < layout.images; ++row) {
        priceSteps(layout, row, 1, [&] { return activationPricer(layer, layout, o.activationRule, 1); },
                   [&](const GridStep& step, const int* pa) {
                       paSum += *pa, ++steps;
                       queue.issue(static_cast<std::int64_t>(blockPw[static_cast<std::size_t>(step.channelBlock)]) *
                                   ceilDiv(*pa, o.serialBits));
                   });
    }
    SerialPairCycles r;
    r.cycles = queue.cycles(layout.filterSets());
    r.stallCycles = static_cast<double>(queue.stallCycles() * layout.filterSets());
    r.meanActivationPrecision = steps > 0 ? paSum / steps : 0.0;
    r.meanWeightPrecision = pw.meanActive();
    return r;
}

} // namespace

SerialPairCycles serialPairCycles(const CostLayer& layer, const GridLayout& layout, const SerialPairOptions& o) {
    requireActivations(layer);
    if (o.serialBits < 1) throw Error("serial bits must be >= 1");
    const WeightPrecisionTable pw(layer, layout, o);
    if (layout.fcQueue) return fcQueueCycles(layer, layout, o, pw);

    const int windowsPerGroup = std::max(1, o.activationGroup / layout.grid.lanes);
    std::vector<TileSync> sets(static_cast<std::size_t>(pw.sets()), TileSync(pw.tiles()));
    double paSum = 0, steps = 0;
    bool open = false;
    for (std::int64_t image = 0; image < layout.images; ++image) {
        priceSteps(layout, image, 1, [&] { return activationPricer(layer, layout, o.activationRule, windowsPerGroup); },
                   [&](const GridStep& step, const int* slowestGroup) {
                       if (step.firstOfWindowSet && open)
                           for (auto& s : sets)
                               s.closeWindowSet();
                       open = true;
                       const int pa = *slowestGroup;
                       paSum += pa, ++steps;
                       const int activationCycles = ceilDiv(pa, o.serialBits);
                       for (std::int64_t set = 0; set < pw.sets(); ++set)
                           for (int tile = 0; tile < pw.tiles(); ++tile) {
                               const int p = pw.at(set, tile, step.kx, step.ky, step.channelBlock);
                               if (p > 0)
                                   sets[static_cast<std::size_t>(set)].add(
                                       tile, static_cast<std::int64_t>(p) * activationCycles);
                           }
                   });
    }
    for (auto& s : sets)
        s.closeWindowSet();
    SerialPairCycles r;
    for (const auto& s : sets) {
        r.cycles += static_cast<double>(s.cycles());
        r.stallCycles += static_cast<double>(s.stallCycles());
    }
    r.meanActivationPrecision = steps > 0 ? paSum / steps : 0.0;
    r.meanWeightPrecision = pw.meanActive();
    return r;
}

double equalPeakBaselineCycles(const GridLayout& layout, int serialBits) {
    const double b = layout.grid.baselineBits;
    const double perStep = b * b / std::max(1, serialBits);
    if (layout.fcQueue)
        return static_cast<double>(layout.images * layout.channelBlocks * layout.filterSets()) * perStep /
               layout.grid.columns;
    return static_cast<double>(layout.totalSteps()) * perStep;
}

GridEvents equalPeakBaselineEvents(const CostLayer& layer, const GridLayout& layout, int serialBits) {
    const TileGrid& g = layout.grid;
    GridEvents ev = bitSerialEvents(layer, layout, 0.0);
    const double macsPerCycle = static_cast<double>(g.columns) * g.rows * g.lanes * g.tiles * std::max(1, serialBits) /
                                (static_cast<double>(g.baselineBits) * g.baselineBits);
    ev.macs = equalPeakBaselineCycles(layout, serialBits) * macsPerCycle;
    return ev;
}

const ParamSchema& LoomCostModel::params() const {
    static const ParamSchema schema =
        joinSchemas({{{"serial_bits",
                       ParamType::Int,
                       1,
                       1,
                       4,
                       {},
                       "activation bits per lane per cycle (PSB: 1, 2 or 4)",
                       "Serial bits"},
                      {"dynamic_weights",
                       ParamType::Bool,
                       false,
                       0,
                       0,
                       {},
                       "per-group weight precision from the codes (else the layer's static Pw)",
                       "Dynamic weights"},
                      {"activation_group_size",
                       ParamType::Int,
                       16,
                       1,
                       65536,
                       {},
                       "activations per precision group (L lanes x group/L windows)",
                       "Activation group"},
                      {"weight_group_size",
                       ParamType::Int,
                       16,
                       1,
                       65536,
                       {},
                       "weights per precision group (L lanes x group/L filters)",
                       "Weight group"},
                      precisionSourceParam(),
                      precisionFormParam(),
                      trimLsbParam()},
                     tileGridSchema(),
                     {modeParam()},
                     energySchema()});
    return schema;
}

LayerCost LoomCostModel::layer(const CostLayer& layer, const nlohmann::json& params) const {
    const GridLayout layout = gridLayout(layer, TileGrid::fromParams(params));
    const double b = layout.grid.baselineBits;
    SerialPairOptions o;
    o.serialBits = params.value("serial_bits", 1);
    if (o.serialBits != 1 && o.serialBits != 2 && o.serialBits != 4)
        throw Error("loom: serial_bits must be 1, 2 or 4 (got " + std::to_string(o.serialBits) + ")");
    o.dynamicWeights = params.value("dynamic_weights", false);
    o.activationGroup = params.value("activation_group_size", 16);
    o.weightGroup = params.value("weight_group_size", 16);
    o.activationRule = precisionRuleFromParams(params, layer.activations.isSigned);
    o.weightRule = precisionRuleFromParams(params, layer.weights.isSigned);
    const bool observed = params.value("precision_source", std::string("quantizer")) == "observed";
    if (observed && !o.dynamicWeights) requireWeights(layer);
    o.staticWeightPrecision = std::max(1, observed ? observedPrecision(layer.weights) : layer.weights.bits);
    const bool dnnsim = dnnsimMode(params);

    LayerCost cost;
    cost.name = layer.name;
    cost.baselineCycles = equalPeakBaselineCycles(layout, o.serialBits);
    std::string fcRule = layoutPath(layout);
    double paMean = 0, pwMean = o.staticWeightPrecision, stall = 0;
    if (layout.fcQueue && !dnnsim) {
        // §5.3, paper: the single window's activations are reused, weights stream bit-serially.
        fcRule = "paper_pw_over_b";
        cost.cycles = cost.baselineCycles * o.staticWeightPrecision / b;
    } else {
        const SerialPairCycles r = serialPairCycles(layer, layout, o);
        cost.cycles = r.cycles;
        stall = r.stallCycles;
        paMean = r.meanActivationPrecision;
        pwMean = r.meanWeightPrecision;
    }

    // §10: Pa * Pw bits per pair.
    double bits = 0;
    const double pairs = static_cast<double>(layer.macs());
    if (dnnsim) {
        if (observed) requireActivations(layer);
        const int pa = observed ? observedPrecision(layer.activations) : layer.activations.bits;
        bits = pairs * std::max(1, pa) * o.staticWeightPrecision;
    } else {
        requireActivations(layer);
        const auto aWidth = [&o](std::int32_t v) { return o.activationRule.ofValue(v); };
        const auto wWidth = [&o](std::int32_t v) { return o.weightRule.ofValue(v); };
        bits = o.dynamicWeights ? sumPairs(layer, aWidth, wWidth)
                                : sumActivationPairs(layer, aWidth) * o.staticWeightPrecision;
    }
    cost.potentialSpeedup = bits > 0 ? pairs * b * b / bits : 0.0;

    const EnergyParams e = EnergyParams::fromParams(params);
    const GridEvents events = bitSerialEvents(layer, layout, cost.cycles, 1, o.serialBits / b);
    cost.energy = events.energy(e);
    cost.baselineEnergy = equalPeakBaselineEvents(layer, layout, o.serialBits).energy(e);

    cost.extra["activation_precision"] = paMean > 0 ? nlohmann::json(paMean) : nlohmann::json(nullptr);
    cost.extra["weight_precision"] = pwMean;
    cost.extra["fc_rule"] = fcRule;
    cost.extra["stall_cycles"] = stall;
    cost.extra["serial_bits"] = o.serialBits;
    cost.extra["mode"] = dnnsim ? "dnnsim" : "paper";
    cost.extra["events"] = events.toJson();
    return cost;
}

std::unique_ptr<CostModel> makeLoomCostModel() {
    return std::make_unique<LoomCostModel>();
}

} // namespace qs::core
