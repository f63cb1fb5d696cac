// SPDX-License-Identifier: MIT
#include "cost/laconic.h"

#include "cost/bit_grid.h"
#include "cost/term_params.h"

#include <algorithm>
#include <bit>
#include <string>

namespace qs::core {

int LaconicTerms::of(std::int32_t v) const {
    if (blockBits <= 0) return effectualTerms(v, encoding);
    const std::int64_t wide = v;
    auto m = static_cast<std::uint64_t>(wide < 0 ? -wide : wide);
    const std::uint64_t blockMask = (std::uint64_t{1} << blockBits) - 1;
    int most = 0;
    for (; m != 0; m >>= blockBits)
        most = std::max(most, effectualTerms(static_cast<std::int32_t>(m & blockMask), encoding));
    return most;
}

namespace {

struct LaconicSetup {
    LaconicTerms activationTerms, weightTerms;
    int rowsPerFilter = 1;
    int minCycles = 1; ///< a step of all-zero products still takes a cycle (min-1 rule)
};

/// The most terms any of tile t's filters has on each lane, per (filter set, tile, kernel position, channel
/// block): a tile's lock-stepped PEs take max_lane (most activation terms x most weight terms) per step.
class WeightLaneMaxima {
public:
    WeightLaneMaxima(const CostLayer& layer, const GridLayout& layout, const LaconicSetup& setup)
        : layout_(layout), rowsPerFilter_(setup.rowsPerFilter), lanes_(layout.grid.lanes),
          kernels_(layout.kernelX * layout.kernelY) {
        const std::int64_t sets = layout.filterSets(rowsPerFilter_);
        maxima_.assign(
            static_cast<std::size_t>(sets * layout.grid.tiles * kernels_ * layout.channelBlocks * lanes_), 0);
        const auto termsOf = [&setup](std::int32_t w) { return setup.weightTerms.of(w); };
        const CodeMemo terms(layer.weights.codes, termsOf);
        // (set, tile) pairs fill their own entries, in parallel; filters outermost read the weights in order.
        parallelChunks(sets * layout.grid.tiles, 1, [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t item = begin; item < end; ++item) {
                const std::int64_t s = item / layout.grid.tiles;
                const auto t = static_cast<int>(item % layout.grid.tiles);
                const FilterRange filters = tileFilters(layout, s, t, rowsPerFilter_);
                for (int kx = 0; kx < layout.kernelX; ++kx)
                    for (int ky = 0; ky < layout.kernelY; ++ky)
                        for (std::int64_t cb = 0; cb < layout.channelBlocks; ++cb) {
                            int* out = maxima_.data() + index(s, t, kx * layout.kernelY + ky, cb);
                            const int lanes = static_cast<int>(
                                std::min<std::int64_t>(lanes_, layout.channels - cb * lanes_));
                            for (std::int64_t v = filters.begin; v < filters.end; ++v)
                                for (int lane = 0; lane < lanes; ++lane)
                                    out[lane] = std::max(
                                        out[lane], terms(pairedWeight(layer, layout, v, cb * lanes_ + lane, ky, kx)));
                        }
            }
        });
    }
    /// Lane maxima of tile `tile` in filter set `set` at kernel position kx * KY + ky and channel block
    /// `block`.
    const int* at(std::int64_t set, int tile, int kernel, std::int64_t block) const {
        return maxima_.data() + index(set, tile, kernel, block);
    }

private:
    std::size_t index(std::int64_t set, int tile, int kernel, std::int64_t block) const {
        const std::int64_t i =
            ((set * layout_.grid.tiles + tile) * kernels_ + kernel) * layout_.channelBlocks + block;
        return static_cast<std::size_t>(i * lanes_);
    }
    const GridLayout& layout_;
    int rowsPerFilter_, lanes_, kernels_;
    std::vector<int> maxima_;
};

/// One step of one tile: max over lanes of max(minCycles, most activation terms x most weight terms).
int tileStepCycles(const int* activationMax, const int* weightMax, int lanes, int minCycles) {
    int cycles = minCycles;
    for (int lane = 0; lane < lanes; ++lane)
        cycles = std::max(cycles, activationMax[lane] * weightMax[lane]);
    return cycles;
}

struct LaconicCycles {
    double cycles = 0, stall = 0, stepCycles = 0, steps = 0;
};

// §7.2: tiles sum their steps per window set; the window set costs the slowest tile.
LaconicCycles convCycles(const CostLayer& layer, const GridLayout& layout, const LaconicSetup& setup,
                         const WeightLaneMaxima& weights) {
    const TileGrid& g = layout.grid;
    const std::int64_t sets = layout.filterSets(setup.rowsPerFilter);
    const int kernels = layout.kernelX * layout.kernelY;
    std::vector<int> activationMax(static_cast<std::size_t>(layout.stepsPerImage() * g.lanes));
    // Per filter set its tiles' window-set sums (TileSync keeps integer totals, so sets add up in any order).
    struct SetCycles {
        std::int64_t cycles = 0, stall = 0, stepCycles = 0, steps = 0;
    };
    std::vector<SetCycles> perSet(static_cast<std::size_t>(sets));
    LaconicCycles r;
    for (std::int64_t image = 0; image < layout.images; ++image) {
        // The activation side of every step of this image: the most terms any window brings to each lane.
        std::int64_t index = 0;
        priceSteps(
            layout, image, g.lanes,
            [&] {
                return [&, codes = std::vector<std::int32_t>()](const GridStep& step, int* out) mutable {
                    gatherStepActivations(layer, layout, step, codes);
                    for (int w = 0; w < step.windowCount; ++w)
                        for (int lane = 0; lane < step.laneCount; ++lane)
                            out[lane] = std::max(out[lane], setup.activationTerms.of(codes[static_cast<std::size_t>(
                                                                w * step.laneCount + lane)]));
                };
            },
            [&](const GridStep&, const int* lanes) {
                std::copy(lanes, lanes + g.lanes, activationMax.data() + index++ * g.lanes);
            });
        parallelChunks(sets, 1, [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t s = begin; s < end; ++s) {
                SetCycles& out = perSet[static_cast<std::size_t>(s)];
                TileSync tiles(g.tiles);
                for (std::int64_t ws = 0; ws < layout.windowSets; ++ws) {
                    for (int t = 0; t < g.tiles; ++t) {
                        if (tileFilters(layout, s, t, setup.rowsPerFilter).count() == 0) continue;
                        std::int64_t sum = 0;
                        for (int k = 0; k < kernels; ++k)
                            for (std::int64_t cb = 0; cb < layout.channelBlocks; ++cb) {
                                const std::int64_t step = (ws * kernels + k) * layout.channelBlocks + cb;
                                const int c = tileStepCycles(activationMax.data() + step * g.lanes,
                                                             weights.at(s, t, k, cb), g.lanes, setup.minCycles);
                                sum += c;
                                out.stepCycles += c, ++out.steps;
                            }
                        tiles.add(t, sum);
                    }
                    tiles.closeWindowSet();
                }
                out.cycles += tiles.cycles();
                out.stall += tiles.stallCycles();
            }
        });
    }
    std::int64_t cycles = 0, stall = 0;
    for (const SetCycles& s : perSet) {
        cycles += s.cycles, stall += s.stall;
        r.stepCycles += static_cast<double>(s.stepCycles), r.steps += static_cast<double>(s.steps);
    }
    r.cycles = static_cast<double>(cycles);
    r.stall = static_cast<double>(stall);
    return r;
}

// §7.3: one window per row; per tile an issue queue, block time the max over its R x L pairs; the slowest
// tile.
LaconicCycles fcQueueCycles(const CostLayer& layer, const GridLayout& layout, const LaconicSetup& setup,
                            const WeightLaneMaxima& weights) {
    const TileGrid& g = layout.grid;
    const std::int64_t sets = layout.filterSets(setup.rowsPerFilter);
    std::vector<FcIssueQueue> queues(static_cast<std::size_t>(g.tiles), FcIssueQueue(g.columns));
    std::vector<std::int32_t> codes;
    std::vector<int> activationTerms(static_cast<std::size_t>(g.lanes));
    LaconicCycles r;
    for (std::int64_t s = 0; s < sets; ++s)
        for (std::int64_t row = 0; row < layout.images; ++row)
            forEachStep(layout, row, [&](const GridStep& step) {
                gatherStepActivations(layer, layout, step, codes);
                std::fill(activationTerms.begin(), activationTerms.end(), 0);
                for (int lane = 0; lane < step.laneCount; ++lane)
                    activationTerms[static_cast<std::size_t>(lane)] =
                        setup.activationTerms.of(codes[static_cast<std::size_t>(lane)]);
                for (int t = 0; t < g.tiles; ++t) {
                    if (tileFilters(layout, s, t, setup.rowsPerFilter).count() == 0) continue;
                    const int c =
                        tileStepCycles(activationTerms.data(), weights.at(s, t, 0, step.channelBlock),
                                       g.lanes, setup.minCycles);
                    queues[static_cast<std::size_t>(t)].issue(c);
                    r.stepCycles += c, ++r.steps;
                }
            });
    for (const auto& q : queues) {
        if (q.cycles(1) > r.cycles) {
            r.cycles = q.cycles(1);
            r.stall = static_cast<double>(q.stallCycles());
        }
    }
    return r;
}

int ceilDiv(int a, int b) {
    return (a + b - 1) / b;
}

} // namespace

// clang-format off
const ParamSchema& LaconicCostModel::params() const {
    static const ParamSchema schema = joinSchemas(
        {{termEncodingParam(),
          {"pe_width", ParamType::Int, 16, 1, 32, {},
           "bits a PE takes per operand; wider operands split into blocks on separate PEs (dnnsim mode)", "PE width"},
          {"min_one_cycle", ParamType::Bool, true, 0, 0, {},
           "a step whose products all have a zero operand still takes one cycle (DNNsim's ZERO_COUNT)", "Min 1 cycle"}},
         tileGridSchema(),
         {modeParam()},
         energySchema()});
    return schema;
}
// clang-format on

LayerCost LaconicCostModel::layer(const CostLayer& layer, const nlohmann::json& params) const {
    const GridLayout layout = gridLayout(layer, TileGrid::fromParams(params));
    const TileGrid& g = layout.grid;
    requireActivations(layer);
    requireWeights(layer);
    const bool dnnsim = dnnsimMode(params);
    const int peWidth = params.value("pe_width", 16);

    LaconicSetup setup;
    const TermEncoding encoding = termEncodingFromParams(params, TermEncoding::Naf);
    setup.activationTerms.encoding = setup.weightTerms.encoding = encoding;
    setup.minCycles = params.value("min_one_cycle", true) ? 1 : 0;
    if (dnnsim) {
        // DNNsim 2020's spatial composition: a P-bit operand takes ceil(P / pe_width) PEs side by side.
        const int activationBlocks = ceilDiv(std::max(1, layer.activations.bits), peWidth);
        const int weightBlocks = ceilDiv(std::max(1, layer.weights.bits), peWidth);
        if (activationBlocks > 1) setup.activationTerms.blockBits = peWidth;
        if (weightBlocks > 1) setup.weightTerms.blockBits = peWidth;
        setup.rowsPerFilter = activationBlocks * weightBlocks;
    }

    const WeightLaneMaxima weights(layer, layout, setup);
    const LaconicCycles r = layout.fcQueue ? fcQueueCycles(layer, layout, setup, weights)
                                           : convCycles(layer, layout, setup, weights);
    LayerCost cost;
    cost.name = layer.name;
    cost.baselineCycles = layout.bitParallelCycles();
    cost.cycles = r.cycles;

    // §10: terms(a) * terms(w) per pair, min 1 (DNNsim 2019) = the products plus one per pair with a zero
    // operand.
    const double b = g.baselineBits;
    const auto ta = [&](std::int32_t a) { return double(setup.activationTerms.of(a)); };
    const auto tw = [&](std::int32_t w) { return double(setup.weightTerms.of(w)); };
    const double products = sumPairs(layer, ta, tw);
    double bits = products;
    if (setup.minCycles > 0) {
        const auto one = [](std::int32_t) { return 1.0; };
        bits += sumPairs(
                    layer, [&](std::int32_t a) { return ta(a) == 0 ? 1.0 : 0.0; }, one) +
                sumPairs(
                    layer, [&](std::int32_t a) { return ta(a) == 0 ? 0.0 : 1.0; },
                    [&](std::int32_t w) { return tw(w) == 0 ? 1.0 : 0.0; });
    }
    const double pairs = static_cast<double>(layer.macs());
    cost.potentialSpeedup = bits > 0 ? pairs * b * b / bits : 0.0;

    const EnergyParams e = EnergyParams::fromParams(params);
    const double laneScale = std::bit_width(static_cast<unsigned>(std::max(2, g.baselineBits) - 1)) / b;
    const GridEvents events = bitSerialEvents(layer, layout, cost.cycles, setup.rowsPerFilter, laneScale);
    cost.energy = events.energy(e);
    cost.baselineEnergy = bitParallelEvents(layer, layout, cost.baselineCycles).energy(e);

    // Weight interface: a tile reads one R x L row of B-bit weights per step (DNNsim); the steps take several
    // cycles, so the mean demand is far below the bit-parallel engine's, which reads a row every cycle.
    const double wires = static_cast<double>(g.tiles) * g.rows * g.lanes * g.baselineBits;
    const double weightRowBits = static_cast<double>(layout.totalSteps(setup.rowsPerFilter)) * wires;
    const double laneCycles = cost.cycles * g.columns * g.rows * g.lanes * g.tiles;
    cost.extra["term_encoding"] = std::string(termEncodingName(encoding));
    cost.extra["pe_width"] = peWidth;
    cost.extra["rows_per_filter"] = setup.rowsPerFilter;
    cost.extra["mean_step_cycles"] = r.steps > 0 ? r.stepCycles / r.steps : 0.0;
    cost.extra["stall_cycles"] = r.stall;
    cost.extra["utilisation"] = laneCycles > 0 ? std::min(1.0, products / laneCycles) : 0.0;
    cost.extra["weight_interface_wires"] = wires;
    cost.extra["weight_bits_per_cycle"] = cost.cycles > 0 ? weightRowBits / cost.cycles : 0.0;
    cost.extra["baseline_weight_interface_wires"] = wires;
    cost.extra["baseline_note"] =
        "equal peak: the bit-parallel engine on the same grid (DNNsim); the paper compares designs of equal "
        "weight-memory wires, so its headline speedups are not this ratio";
    cost.extra["fc_rule"] = layoutPath(layout);
    cost.extra["mode"] = dnnsim ? "dnnsim" : "paper";
    cost.extra["events"] = events.toJson();
    return cost;
}

std::unique_ptr<CostModel> makeLaconicCostModel() {
    return std::make_unique<LaconicCostModel>();
}

} // namespace qs::core
