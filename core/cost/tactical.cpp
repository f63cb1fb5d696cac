// SPDX-License-Identifier: MIT
#include "cost/tactical.h"

#include "base/error.h"
#include "cost/bit_grid.h"
#include "cost/pragmatic.h"
#include "cost/tactical_schedule.h"
#include "cost/term_params.h"
#include "cost/value_bits.h"

#include <algorithm>
#include <array>
#include <string>

namespace qs::core {

namespace {

enum class Backend { FrontEnd, Tclp, Tcle };

Backend backendFromName(const std::string& name) {
    if (name == "frontend") return Backend::FrontEnd;
    if (name == "tclp") return Backend::Tclp;
    if (name == "tcle") return Backend::Tcle;
    throw Error("tactical: unknown backend '" + name + "' (frontend, tclp, tcle)");
}

/// An activation a kept row fetches for each window: input channel `channel` at kernel position (ky, kx).
struct ActivationSource {
    std::int64_t channel = 0;
    int ky = 0, kx = 0;
};

/// A set's kept rows as the back end reads them. All filters of a set share the channel layout, so a kept
/// row's slots fetch at most a few distinct activations (its own row's and those promoted from the rows
/// ahead): each is read once per window and shared by the slots naming it.
struct SetFeeds {
    int keptRows = 0, width = 0;
    std::vector<std::vector<ActivationSource>> sources; ///< per kept row, its distinct activations
    /// Per kept row, the distinct source sets of its filters (TCLe), each as its size then its sorted source
    /// indices. A filter's Pragmatic PE depends only on that set: lanes fetching the same activation move in step,
    /// a lane fetching nothing never moves, and the two-stage shifter does not depend on lane order (§6).
    std::vector<std::vector<int>> filterSourceSets;
};

// A slot fetches nothing when it is channel padding or (paper mode) holds a zero weight.
SetFeeds setFeedsOf(const TacticalLayerSchedule& schedule, std::size_t s, bool zeroWeightsFetch) {
    const WeightSetSchedule& set = schedule.sets[s];
    const int lanes = schedule.lanes;
    SetFeeds feeds;
    feeds.keptRows = set.keptRows();
    feeds.width = set.width;
    feeds.sources.resize(static_cast<std::size_t>(feeds.keptRows));
    feeds.filterSourceSets.resize(static_cast<std::size_t>(feeds.keptRows));
    std::vector<std::pair<std::int64_t, int>> keys; // (original row * L + lane, column)
    std::vector<int> slotSource(static_cast<std::size_t>(set.width));
    std::vector<std::vector<int>> filterSets(static_cast<std::size_t>(set.width / lanes));
    for (int r = 0; r < feeds.keptRows; ++r) {
        keys.clear();
        std::fill(slotSource.begin(), slotSource.end(), -1);
        for (int c = 0; c < set.width; ++c) {
            const WeightSlot slot = schedule.scheduledSlot(s, r, c);
            if (slot.padding || (!zeroWeightsFetch && set.weight(r, c) == 0)) continue;
            keys.emplace_back(static_cast<std::int64_t>(set.originRow(r, c)) * lanes + set.originColumn(r, c) % lanes,
                              c);
        }
        std::sort(keys.begin(), keys.end());
        auto& sources = feeds.sources[static_cast<std::size_t>(r)];
        for (std::size_t i = 0; i < keys.size(); ++i) {
            if (i == 0 || keys[i].first != keys[i - 1].first) {
                const WeightSlot slot = schedule.scheduledSlot(s, r, keys[i].second);
                sources.push_back({slot.channel, slot.ky, slot.kx});
            }
            slotSource[static_cast<std::size_t>(keys[i].second)] = static_cast<int>(sources.size()) - 1;
        }
        for (std::size_t f = 0; f < filterSets.size(); ++f) {
            auto& sourceSet = filterSets[f];
            sourceSet.clear();
            for (int lane = 0; lane < lanes; ++lane)
                if (const int k = slotSource[f * static_cast<std::size_t>(lanes) + static_cast<std::size_t>(lane)]; k >= 0)
                    sourceSet.push_back(k);
            std::sort(sourceSet.begin(), sourceSet.end());
            sourceSet.erase(std::unique(sourceSet.begin(), sourceSet.end()), sourceSet.end());
        }
        std::sort(filterSets.begin(), filterSets.end());
        auto& packed = feeds.filterSourceSets[static_cast<std::size_t>(r)];
        for (std::size_t f = 0; f < filterSets.size(); ++f) {
            if (filterSets[f].empty() || (f > 0 && filterSets[f] == filterSets[f - 1])) continue; // empty: 1 cycle
            packed.push_back(static_cast<int>(filterSets[f].size()));
            packed.insert(packed.end(), filterSets[f].begin(), filterSets[f].end());
        }
    }
    return feeds;
}

std::vector<SetFeeds> setFeeds(const TacticalLayerSchedule& schedule, bool zeroWeightsFetch) {
    std::vector<SetFeeds> out(schedule.sets.size());
    parallelChunks(static_cast<std::int64_t>(out.size()), 1, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t s = begin; s < end; ++s)
            out[static_cast<std::size_t>(s)] = setFeedsOf(schedule, static_cast<std::size_t>(s), zeroWeightsFetch);
    });
    return out;
}

/// Step costs of the TCLe and TCLp back ends (§8.3). Holds scratch buffers: one per thread.
class BackEndStep {
public:
    /// `activationTerms`: term positions of every activation code (TCLe; may be empty for TCLp).
    BackEndStep(const CostLayer& layer, const GridLayout& layout, const std::vector<SetFeeds>& feeds,
                const std::vector<std::uint64_t>& activationTerms, int firstStageBits, PrecisionRule rule)
        : layer_(layer), layout_(layout), feeds_(feeds), activationTerms_(activationTerms),
          firstStageBits_(firstStageBits), rule_(rule) {}

    /// TCLe: the columns of windows [first, first + count) (count <= kShifterBatch) on kept row `row` of set `set`,
    /// each the slowest filter row's Pragmatic PE (§6), into columns[0, count). The windows go side by side through
    /// twoStageCyclesBatch, one filter source set at a time.
    void tcleColumns(std::int64_t image, std::int64_t firstWindow, int count, std::size_t set, int row, int* columns) {
        const SetFeeds& f = feeds_[set];
        const auto& sources = f.sources[static_cast<std::size_t>(row)];
        constexpr auto kBatch = static_cast<std::size_t>(kShifterBatch);
        for (int w = 0; w < count; ++w)
            readers_[static_cast<std::size_t>(w)] = WindowReader(layer_, layout_, image, firstWindow + w);
        sourceMasks_.assign(sources.size() * kBatch, 0); // [source][window]; windows past count stay idle
        for (std::size_t k = 0; k < sources.size(); ++k)
            for (int w = 0; w < count; ++w) {
                const std::int64_t i = readers_[static_cast<std::size_t>(w)].index(sources[k].channel, sources[k].ky,
                                                                                   sources[k].kx);
                if (i >= 0) sourceMasks_[k * kBatch + static_cast<std::size_t>(w)] = activationTerms_[static_cast<std::size_t>(i)];
            }
        std::fill(columns, columns + count, 1); // a filter fetching nothing still takes a cycle
        const auto& sets = f.filterSourceSets[static_cast<std::size_t>(row)];
        std::array<int, kShifterBatch> cycles{};
        for (std::size_t i = 0; i < sets.size(); i += 1 + static_cast<std::size_t>(sets[i])) {
            const auto n = static_cast<std::size_t>(sets[i]);
            laneMasks_.resize(n * kBatch);
            for (std::size_t lane = 0; lane < n; ++lane)
                std::copy_n(sourceMasks_.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(sets[i + 1 + lane]) * kBatch),
                            kBatch, laneMasks_.begin() + static_cast<std::ptrdiff_t>(lane * kBatch));
            twoStageCyclesBatch(laneMasks_, firstStageBits_, cycles);
            for (int w = 0; w < count; ++w)
                columns[w] = std::max(columns[w], cycles[static_cast<std::size_t>(w)]);
        }
    }

    /// TCLp: the precision of every activation the kept row's slots fetch for windows [first, first + count).
    int tclpGroup(std::int64_t image, std::int64_t firstWindow, int count, std::size_t set, int row) {
        const auto& sources = feeds_[set].sources[static_cast<std::size_t>(row)];
        codes_.clear();
        for (std::int64_t w = firstWindow; w < firstWindow + count; ++w) {
            const WindowReader reader(layer_, layout_, image, w);
            for (const ActivationSource& source : sources)
                codes_.push_back(reader.code(source.channel, source.ky, source.kx));
        }
        return rule_.of(codes_);
    }

private:
    const CostLayer& layer_;
    const GridLayout& layout_;
    const std::vector<SetFeeds>& feeds_;
    const std::vector<std::uint64_t>& activationTerms_;
    int firstStageBits_;
    PrecisionRule rule_;
    std::vector<std::int32_t> codes_;
    std::vector<std::uint64_t> sourceMasks_, laneMasks_;
    std::array<WindowReader, kShifterBatch> readers_;
};

/// What BackEndStep needs besides a layer's feeds; each worker makes its own step from it.
struct BackEnd {
    Backend kind;
    std::vector<std::uint64_t> activationTerms; ///< TCLe: termPositions of every activation code
    int firstStageBits = 2;
    PrecisionRule rule;
    BackEndStep step(const CostLayer& layer, const GridLayout& layout, const std::vector<SetFeeds>& feeds) const {
        return {layer, layout, feeds, activationTerms, firstStageBits, rule};
    }
};

struct TileCycles {
    double cycles = 0, stall = 0;
};

// The slowest tile, the first of equals (tiles in order).
TileCycles slowestOf(const std::vector<TileCycles>& tiles) {
    TileCycles slowest;
    for (const TileCycles& tile : tiles)
        if (tile.cycles > slowest.cycles) slowest = tile;
    return slowest;
}

// §8.3: set s on tile s mod T; a tile's column groups sync over its kept rows (per image, as DNNsim restarts
// them); tiles run independently, the layer costs the slowest. (Tile, image) pairs run in parallel.
TileCycles columnCycles(const CostLayer& layer, const GridLayout& layout, const std::vector<SetFeeds>& feeds,
                        const BackEnd& backEnd, int windowsPerGroup, int columnRegisters) {
    const TileGrid& g = layout.grid;
    const Backend backend = backEnd.kind;
    const int groups =
        backend == Backend::Tcle ? g.columns : (g.columns + windowsPerGroup - 1) / windowsPerGroup;
    const auto tiles = static_cast<std::int64_t>(std::min<std::size_t>(static_cast<std::size_t>(g.tiles), feeds.size()));
    std::vector<std::int64_t> imageCycles(static_cast<std::size_t>(tiles * layout.images));
    std::vector<std::int64_t> imageStall(imageCycles.size());
    parallelChunks(tiles * layout.images, 1, [&](std::int64_t begin, std::int64_t end) {
        BackEndStep step = backEnd.step(layer, layout, feeds);
        std::vector<int> groupCycles(static_cast<std::size_t>(groups));
        for (std::int64_t item = begin; item < end; ++item) {
            const auto t = static_cast<std::size_t>(item / layout.images);
            const std::int64_t image = item % layout.images;
            ColumnSync sync(groups, columnRegisters);
            for (std::int64_t ws = 0; ws < layout.windowSets; ++ws) {
                const std::int64_t first = ws * g.columns;
                const int count = static_cast<int>(std::min<std::int64_t>(g.columns, layout.windows - first));
                for (std::size_t s = t; s < feeds.size(); s += static_cast<std::size_t>(g.tiles))
                    for (int r = 0; r < feeds[s].keptRows; ++r) {
                        std::fill(groupCycles.begin(), groupCycles.end(), 0); // groups without a window this step
                        if (backend == Backend::Tcle) {
                            for (int w = 0; w < count; w += kShifterBatch)
                                step.tcleColumns(image, first + w, std::min(kShifterBatch, count - w), s, r,
                                                 groupCycles.data() + w);
                        } else {
                            for (int gi = 0; gi * windowsPerGroup < count; ++gi) {
                                const int n = std::min(windowsPerGroup, count - gi * windowsPerGroup);
                                groupCycles[static_cast<std::size_t>(gi)] =
                                    step.tclpGroup(image, first + gi * windowsPerGroup, n, s, r);
                            }
                        }
                        sync.step(groupCycles);
                    }
            }
            imageCycles[static_cast<std::size_t>(item)] = sync.cycles();
            imageStall[static_cast<std::size_t>(item)] = sync.stallCycles();
        }
    });
    std::vector<TileCycles> perTile(static_cast<std::size_t>(tiles));
    for (std::int64_t item = 0; item < tiles * layout.images; ++item) {
        TileCycles& tile = perTile[static_cast<std::size_t>(item / layout.images)];
        tile.cycles += static_cast<double>(imageCycles[static_cast<std::size_t>(item)]);
        tile.stall += static_cast<double>(imageStall[static_cast<std::size_t>(item)]);
    }
    return slowestOf(perTile);
}

// FC with M < W (§8.3 "issue-queue back end"): per tile, its kept rows for each input row issue round-robin
// over the columns, each holding its column for its back-end cycles. Tiles run in parallel.
TileCycles queueCycles(const CostLayer& layer, const GridLayout& layout, const std::vector<SetFeeds>& feeds,
                       const BackEnd& backEnd) {
    const TileGrid& g = layout.grid;
    const auto tiles = static_cast<std::int64_t>(std::min<std::size_t>(static_cast<std::size_t>(g.tiles), feeds.size()));
    std::vector<TileCycles> perTile(static_cast<std::size_t>(tiles));
    parallelChunks(tiles, 1, [&](std::int64_t begin, std::int64_t end) {
        BackEndStep step = backEnd.step(layer, layout, feeds);
        for (std::int64_t t = begin; t < end; ++t) {
            FcIssueQueue queue(g.columns);
            for (std::int64_t row = 0; row < layout.images; ++row)
                for (auto s = static_cast<std::size_t>(t); s < feeds.size(); s += static_cast<std::size_t>(g.tiles))
                    for (int r = 0; r < feeds[s].keptRows; ++r) {
                        int cycles = 0;
                        if (backEnd.kind == Backend::Tcle)
                            step.tcleColumns(row, 0, 1, s, r, &cycles);
                        else
                            cycles = step.tclpGroup(row, 0, 1, s, r);
                        queue.issue(cycles);
                    }
            perTile[static_cast<std::size_t>(t)] = {queue.cycles(1), static_cast<double>(queue.stallCycles())};
        }
    });
    return slowestOf(perTile);
}

} // namespace

// clang-format off
const ParamSchema& TacticalCostModel::params() const {
    static const ParamSchema schema = joinSchemas(
        {{{"backend", ParamType::Choice, "tclp", 0, 0, {"frontend", "tclp", "tcle"},
           "frontend: the schedule on a bit-parallel engine; tclp: dynamic activation precision; "
           "tcle: Pragmatic terms", "Back end"},
          {"lookahead", ParamType::Int, 2, 0, 16, {}, "rows ahead a weight may be promoted from (H)", "Lookahead H"},
          {"lookaside", ParamType::Int, 5, 0, 4095, {},
           "lanes aside a weight may be promoted from (D, < lanes; L shape)", "Lookaside D"},
          {"search_shape", ParamType::Choice, "l_shape", 0, 0, {"l_shape", "t_shape"},
           "promotion window: L (H ahead, D aside one row down) or T (DNNsim's, H ahead and diagonals)",
           "Search shape"},
          groupSizeParam("; tclp: all slots of a kept row"),
          precisionFormParam(),
          trimLsbParam()},
         pragmaticSchema(),
         tileGridSchema(),
         {modeParam()},
         energySchema()});
    return schema;
}
// clang-format on

LayerCost TacticalCostModel::layer(const CostLayer& layer, const nlohmann::json& params) const {
    const GridLayout layout = gridLayout(layer, TileGrid::fromParams(params));
    const TileGrid& g = layout.grid;
    requireWeights(layer);
    const Backend backend = backendFromName(params.value("backend", std::string("tclp")));
    if (backend != Backend::FrontEnd) requireActivations(layer);
    const bool dnnsim = dnnsimMode(params);

    TacticalScheduleOptions options;
    options.lookahead = params.value("lookahead", 2);
    options.lookaside = params.value("lookaside", 5);
    options.shape = searchShapeFromName(params.value("search_shape", std::string("l_shape")));
    options.keepOneRow = !dnnsim; // DNNsim lets a short all-zero set vanish; the hardware still issues it
    // §8.2: fps = min(R, ceil(F/T)) filters per set.
    const int filtersPerSet =
        static_cast<int>(std::min<std::int64_t>(g.rows, (layout.virtualFilters + g.tiles - 1) / g.tiles));
    const TacticalLayerSchedule schedule = scheduleLayerWeights(layer, layout, filtersPerSet, options);

    // Kept and original rows per tile; the slowest tile sets the pace.
    std::vector<double> tileKept(static_cast<std::size_t>(g.tiles), 0), tileOriginal(tileKept.size(), 0);
    double keptRows = 0, originalRows = 0, promotions = 0;
    for (std::size_t s = 0; s < schedule.sets.size(); ++s) {
        const auto& set = schedule.sets[s];
        tileKept[s % tileKept.size()] += set.keptRows();
        tileOriginal[s % tileKept.size()] += set.originalRows;
        keptRows += set.keptRows();
        originalRows += set.originalRows;
        promotions += set.promotions;
    }
    const std::size_t slowestTile =
        static_cast<std::size_t>(std::max_element(tileKept.begin(), tileKept.end()) - tileKept.begin());

    LayerCost cost;
    cost.name = layer.name;
    cost.baselineCycles = layout.bitParallelCycles();
    const PragmaticShifter shifter =
        PragmaticShifter::fromParams(params, TermEncoding::Binary); // TCLe: PRA's one-offsets
    const PrecisionRule rule = precisionRuleFromParams(params, layer.activations.isSigned);
    const int columnRegisters = params.value("column_registers", 0);
    double stall = 0;
    if (backend == Backend::FrontEnd) {
        cost.cycles = static_cast<double>(layout.images * layout.windows) *
                      tileKept[slowestTile]; // one window per cycle
    } else {
        const std::vector<SetFeeds> feeds = setFeeds(schedule, dnnsim);
        BackEnd backEnd{backend, {}, shifter.firstStageBits(), rule};
        if (backend == Backend::Tcle) {
            // Each activation code is fetched by many kept rows and windows: its terms once.
            const auto& codes = layer.activations.codes;
            backEnd.activationTerms.resize(codes.size());
            parallelChunks(static_cast<std::int64_t>(codes.size()), 1 << 16, [&](std::int64_t begin, std::int64_t end) {
                for (std::int64_t i = begin; i < end; ++i)
                    backEnd.activationTerms[static_cast<std::size_t>(i)] =
                        termPositions(codes[static_cast<std::size_t>(i)], shifter.encoding());
            });
        }
        const int windowsPerGroup = std::max(1, params.value("precision_group", 16) / g.lanes);
        const TileCycles r =
            layout.fcQueue ? queueCycles(layer, layout, feeds, backEnd)
                           : columnCycles(layer, layout, feeds, backEnd, windowsPerGroup, columnRegisters);
        cost.cycles = r.cycles;
        stall = r.stall;
    }

    // §10 potentials: bits per pair, against B^2.
    const double b = g.baselineBits;
    const double pairs = static_cast<double>(layer.macs());
    const auto nonZero = [](std::int32_t w) { return w != 0 ? 1.0 : 0.0; };
    // Every weight meets the same number of windows (padding included), so zero pairs need no activations.
    const auto zeroWeights = std::count(layer.weights.codes.begin(), layer.weights.codes.end(), 0);
    const double zeroPairs =
        pairs * static_cast<double>(zeroWeights) / static_cast<double>(layer.weights.codes.size());
    const TermEncoding encoding = shifter.encoding();
    double bits = 0, busy = 0;
    if (backend == Backend::FrontEnd) {
        bits = (pairs - zeroPairs) * b * b;
        busy = pairs - zeroPairs; // effectual MACs
    } else if (backend == Backend::Tcle) {
        bits = zeroPairs + sumPairs(
                               layer,
                               [&](std::int32_t a) { return std::max(1.0, effectualTerms(a, encoding) * b); },
                               nonZero);
        busy = sumPairs(
            layer, [&](std::int32_t a) { return double(effectualTerms(a, encoding)); }, nonZero);
    } else {
        const int layerPrecision = std::max(1, layer.activations.bits); // DNNsim 2019: the layer's Pa
        const auto width = [&](std::int32_t a) {
            return dnnsim ? double(layerPrecision) : double(rule.ofValue(a));
        };
        bits = zeroPairs + sumPairs(layer, width, nonZero) * b;
        busy = sumPairs(layer, width, nonZero);
    }
    cost.potentialSpeedup = bits > 0 ? pairs * b * b / bits : 0.0;

    // §11: the design reads buffers and accumulates only on its kept rows.
    const EnergyParams e = EnergyParams::fromParams(params);
    const GridEvents baseEvents = bitParallelEvents(layer, layout, cost.baselineCycles);
    GridEvents events;
    double slots = 0;
    if (backend == Backend::FrontEnd) {
        events = bitParallelEvents(layer, layout, cost.cycles);
        slots = cost.cycles * g.tiles * g.rows * g.lanes;
    } else {
        events = bitSerialEvents(layer, layout, cost.cycles);
        const double keptFraction = originalRows > 0 ? keptRows / originalRows : 1.0;
        events.bufferBits *= keptFraction;
        events.accumulations *= keptFraction;
        slots = cost.cycles * g.columns * g.rows * g.lanes * g.tiles;
    }
    cost.energy = events.energy(e);
    cost.baselineEnergy = baseEvents.energy(e);

    cost.extra["backend"] = params.value("backend", std::string("tclp"));
    cost.extra["kept_rows"] = keptRows;
    cost.extra["original_rows"] = originalRows;
    cost.extra["schedule_speedup"] =
        tileKept[slowestTile] > 0 ? tileOriginal[slowestTile] / tileKept[slowestTile] : 0.0;
    cost.extra["filters_per_set"] = filtersPerSet;
    cost.extra["promotions"] = promotions;
    cost.extra["weight_density"] = pairs > 0 ? (pairs - zeroPairs) / pairs : 0.0;
    cost.extra["lookahead"] = options.lookahead;
    cost.extra["lookaside"] = options.lookaside;
    cost.extra["search_shape"] = std::string(searchShapeName(options.shape));
    cost.extra["stall_cycles"] = stall;
    cost.extra["utilisation"] = slots > 0 ? std::min(1.0, busy / slots) : 0.0;
    if (backend == Backend::Tcle) {
        cost.extra["term_encoding"] = std::string(termEncodingName(encoding));
        cost.extra["first_stage_bits"] = shifter.firstStageBits();
    }
    if (backend != Backend::FrontEnd) cost.extra["column_registers"] = columnRegisters;
    cost.extra["fc_rule"] = layoutPath(layout);
    cost.extra["mode"] = dnnsim ? "dnnsim" : "paper";
    cost.extra["events"] = events.toJson();
    return cost;
}

std::unique_ptr<CostModel> makeTacticalCostModel() {
    return std::make_unique<TacticalCostModel>();
}

} // namespace qs::core
