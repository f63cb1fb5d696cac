// SPDX-License-Identifier: MIT
#include "cost/bit_grid.h"

#include "base/error.h"
#include "cost/value_bits.h"

#include <cmath>

namespace qs::core {

namespace {

std::int64_t ceilDiv(std::int64_t a, std::int64_t b) {
    return (a + b - 1) / b;
}

std::int64_t activationCount(const CostLayer& l) {
    return l.M * l.C * l.NY * l.NX;
}
std::int64_t weightCount(const CostLayer& l) {
    return l.F * (l.C / std::max(1, l.groups)) * l.KY * l.KX;
}

} // namespace

int GridLayout::filtersPerTile(int rowsPerFilter) const {
    return std::max(1, grid.rows / std::max(1, rowsPerFilter));
}

std::int64_t GridLayout::filterSets(int rowsPerFilter) const {
    return ceilDiv(virtualFilters, static_cast<std::int64_t>(grid.tiles) * filtersPerTile(rowsPerFilter));
}

double GridLayout::bitParallelCycles() const {
    return static_cast<double>(images * windows * kernelX * kernelY * channelBlocks * filterSets());
}

std::string layoutPath(const GridLayout& layout) {
    return layout.fcQueue ? "dnnsim_issue_queue" : layout.rowsAsWindows ? "conv_1x1" : "conv";
}

GridLayout gridLayout(const CostLayer& layer, const TileGrid& grid) {
    const int groups = std::max(1, layer.groups);
    if (layer.C <= 0 || layer.F <= 0 || layer.M <= 0 || layer.C % groups != 0 || layer.F % groups != 0)
        throw Error("layer '" + layer.name + "': cannot be costed (C=" + std::to_string(layer.C) +
                    ", F=" + std::to_string(layer.F) + ", M=" + std::to_string(layer.M) +
                    ", groups=" + std::to_string(groups) + ")");
    GridLayout l;
    l.grid = grid;
    l.channels = layer.C;
    l.virtualFilters = layer.F / groups;
    if (layer.shape == LayerShape::FullyConnected) {
        // Spec §15: M >= W rows fill the W columns as a 1x1 conv; fewer take DNNsim's issue queue.
        if (layer.M >= grid.columns) {
            l.rowsAsWindows = true;
            l.windows = l.outWidth = layer.M;
        } else {
            l.fcQueue = true;
            l.images = layer.M;
        }
    } else {
        if (layer.OX <= 0 || layer.OY <= 0)
            throw Error("layer '" + layer.name + "': output size " + std::to_string(layer.OY) + "x" +
                        std::to_string(layer.OX) + " cannot be costed");
        l.images = layer.M;
        l.windows = static_cast<std::int64_t>(layer.OX) * layer.OY;
        l.outWidth = layer.OX;
        l.kernelX = layer.KX;
        l.kernelY = layer.KY;
    }
    l.windowSets = ceilDiv(l.windows, grid.columns);
    l.channelBlocks = ceilDiv(l.channels, grid.lanes);
    return l;
}

void requireActivations(const CostLayer& layer) {
    if (static_cast<std::int64_t>(layer.activations.codes.size()) != activationCount(layer))
        throw Error("layer '" + layer.name + "': " + std::to_string(layer.activations.codes.size()) +
                    " activation codes, expected " + std::to_string(activationCount(layer)) +
                    " (capture activations for this cost model)");
}

void requireWeights(const CostLayer& layer) {
    if (static_cast<std::int64_t>(layer.weights.codes.size()) != weightCount(layer))
        throw Error("layer '" + layer.name + "': " + std::to_string(layer.weights.codes.size()) +
                    " weight codes, expected " + std::to_string(weightCount(layer)));
}

void gatherStepActivations(const CostLayer& layer, const GridLayout& layout, const GridStep& step,
                           std::vector<std::int32_t>& out) {
    out.resize(static_cast<std::size_t>(step.windowCount) * static_cast<std::size_t>(step.laneCount));
    const std::int64_t channelStride = static_cast<std::int64_t>(layer.NY) * layer.NX;
    const std::int32_t* codes = layer.activations.codes.data();
    std::int32_t* row = out.data();
    for (int w = 0; w < step.windowCount; ++w, row += step.laneCount) {
        // The padding depends on the window and kernel position only: a whole row of zeros or of codes.
        const std::int64_t first = windowActivationIndex(layer, layout, step.image, step.firstWindow + w,
                                                         step.firstChannel, step.ky, step.kx);
        if (first < 0) {
            std::fill(row, row + step.laneCount, 0);
            continue;
        }
        for (int lane = 0; lane < step.laneCount; ++lane)
            row[lane] = codes[first + lane * channelStride];
    }
}

void gatherStepWeights(const CostLayer& layer, const GridLayout& layout, const GridStep& step, std::int64_t firstFilter,
                       int count, std::vector<std::int32_t>& out) {
    out.resize(static_cast<std::size_t>(std::max(0, count)) * static_cast<std::size_t>(step.laneCount));
    std::size_t i = 0;
    for (int f = 0; f < count; ++f)
        for (int lane = 0; lane < step.laneCount; ++lane)
            out[i++] = pairedWeight(layer, layout, firstFilter + f, step.firstChannel + lane, step.ky, step.kx);
}

FilterRange tileFilters(const GridLayout& layout, std::int64_t set, int tile, int rowsPerFilter) {
    const std::int64_t perTile = layout.filtersPerTile(rowsPerFilter);
    const std::int64_t begin = std::min(layout.virtualFilters, (set * layout.grid.tiles + tile) * perTile);
    return {begin, std::min(layout.virtualFilters, begin + perTile)};
}

int PrecisionRule::of(std::span<const std::int32_t> group) const {
    return twosComplement ? groupPrecisionTwosComplement(group, tensorSigned, trimLsb)
                          : groupPrecisionSignMagnitude(group, trimLsb);
}

ParamSpec precisionFormParam() {
    return {"precision_form",
            ParamType::Choice,
            "twos_complement",
            0,
            0,
            {"twos_complement", "sign_magnitude"},
            "group precision of signed codes: two's complement (DNNsim 2020) or sign-magnitude (DNNsim 2019)",
            "Precision form"};
}

ParamSpec trimLsbParam() {
    return {"trim_lsb", ParamType::Bool, false, 0, 0, {}, "trim trailing zero bits of a group too (HI - LO + 1)",
            "Trim LSBs"};
}

ParamSpec groupSizeParam(const std::string& help) {
    return {"precision_group", ParamType::Int, 16, 1, 65536, {}, "activations per precision group (L lanes x group/L windows" + help + ")",
            "Group size"};
}

ParamSpec precisionSourceParam() {
    return {"precision_source", ParamType::Choice, "quantizer", 0, 0, {"quantizer", "observed"},
            "static layer precisions: the quantizer's bits, or the minimal bits covering the observed codes",
            "Precision source"};
}

ParamSpec columnRegistersParam() {
    return {"column_registers", ParamType::Int, 0, 0, 64, {},
            "steps a column (group) may run ahead of the slowest (CR; 0 = lock step)", "Column registers"};
}

PrecisionRule precisionRuleFromParams(const nlohmann::json& params, bool tensorSigned) {
    PrecisionRule r;
    r.twosComplement = params.value("precision_form", std::string("twos_complement")) != "sign_magnitude";
    r.tensorSigned = tensorSigned;
    r.trimLsb = params.value("trim_lsb", false);
    return r;
}

void blockGroupPrecisions(std::span<const std::int32_t> codes, int rows, int lanes, int rowsPerGroup,
                          const PrecisionRule& rule, std::vector<int>& out) {
    rowsPerGroup = std::max(1, rowsPerGroup);
    out.clear();
    for (int first = 0; first < rows; first += rowsPerGroup) {
        const int count = std::min(rowsPerGroup, rows - first);
        out.push_back(rule.of(codes.subspan(static_cast<std::size_t>(first) * static_cast<std::size_t>(lanes),
                                            static_cast<std::size_t>(count) * static_cast<std::size_t>(lanes))));
    }
}

int observedPrecision(const OperandCodes& operand) {
    return groupPrecisionTwosComplement(operand.codes, operand.isSigned, false);
}

ColumnSync::ColumnSync(int groups, int columnRegisters)
    : finish_(static_cast<std::size_t>(std::max(1, groups)), 0),
      previous_(static_cast<std::size_t>(std::max(0, columnRegisters)), 0), registers_(std::max(0, columnRegisters)) {}

void ColumnSync::step(std::span<const int> groupCycles) {
    for (std::size_t g = 0; g < finish_.size() && g < groupCycles.size(); ++g)
        finish_[g] += groupCycles[g];
    const std::int64_t slowest = *std::max_element(finish_.begin(), finish_.end());
    if (registers_ == 0) {
        // Lock step: every group waits for the slowest one.
        stall_ += slowest - *std::min_element(finish_.begin(), finish_.end());
        std::fill(finish_.begin(), finish_.end(), slowest);
        return;
    }
    // Run-ahead (§4.2): a group may not start its next step before the step CR steps back has finished.
    const std::int64_t oldest = previous_.front();
    std::int64_t fastest = oldest + 1;
    for (auto& f : finish_) {
        if (f <= oldest) {
            fastest = std::min(fastest, f);
            f = oldest + 1;
        }
    }
    stall_ += oldest + 1 - fastest;
    previous_.pop_front();
    previous_.push_back(*std::max_element(finish_.begin(), finish_.end()));
}

std::int64_t ColumnSync::cycles() const {
    return *std::max_element(finish_.begin(), finish_.end());
}

void TileSync::closeWindowSet() {
    const std::int64_t slowest = *std::max_element(sums_.begin(), sums_.end());
    for (std::size_t t = 0; t < sums_.size(); ++t) {
        if (active_[t]) stall_ += slowest - sums_[t];
        sums_[t] = 0;
        active_[t] = false;
    }
    total_ += slowest;
}

void FcIssueQueue::issue(std::int64_t hold) {
    std::int64_t& end = columnEnd_[column_];
    if (time_ < end) {
        stall_ += end - time_;
        time_ = end;
    }
    end = time_ + hold;
    ++time_;
    column_ = (column_ + 1) % columnEnd_.size();
}

double FcIssueQueue::cycles(std::int64_t filterSets) const {
    const std::int64_t lastEnd = *std::max_element(columnEnd_.begin(), columnEnd_.end());
    return static_cast<double>(time_ * filterSets + std::max<std::int64_t>(0, lastEnd - time_));
}

double GridEvents::energy(const EnergyParams& e) const {
    return laneCycles * e.laneCycle + macs * e.mac + bufferBits * e.sramBit + accumulations * e.accumulate +
           dramBytes * e.dramByte;
}

nlohmann::json GridEvents::toJson() const {
    return {{"lane_cycles", laneCycles},
            {"macs", macs},
            {"buffer_bits", bufferBits},
            {"accumulations", accumulations},
            {"dram_bytes", dramBytes}};
}

double layerOffChipBytes(const CostLayer& layer, double bits) {
    return static_cast<double>(weightCount(layer) + activationCount(layer)) * bits / 8.0;
}

GridEvents bitParallelEvents(const CostLayer& layer, const GridLayout& layout, double cycles) {
    const TileGrid& g = layout.grid;
    const double tileCycles = cycles * g.tiles;
    GridEvents ev;
    ev.macs = tileCycles * g.rows * g.lanes;
    ev.bufferBits =
        tileCycles * (static_cast<double>(g.lanes) + static_cast<double>(g.rows) * g.lanes) * g.baselineBits;
    ev.accumulations = tileCycles * g.rows;
    ev.dramBytes = layerOffChipBytes(layer, g.baselineBits);
    return ev;
}

GridEvents bitSerialEvents(const CostLayer& layer, const GridLayout& layout, double cycles, int rowsPerFilter,
                           double laneScale) {
    const TileGrid& g = layout.grid;
    const double tileSteps = static_cast<double>(layout.totalSteps(rowsPerFilter)) * g.tiles;
    const double windowsPerStep = layout.fcQueue ? 1.0 : g.columns;
    GridEvents ev;
    ev.laneCycles = cycles * g.columns * g.rows * g.lanes * g.tiles * laneScale;
    ev.bufferBits = tileSteps * (windowsPerStep + g.rows) * g.lanes * g.baselineBits;
    ev.accumulations = tileSteps * windowsPerStep * g.rows;
    ev.dramBytes = layerOffChipBytes(layer, g.baselineBits);
    return ev;
}

} // namespace qs::core
