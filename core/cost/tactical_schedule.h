// SPDX-License-Identifier: MIT
// Bit-Tactical's offline weight scheduler (../shared/specs/cost-models.md §8.2): packs each filter's
// non-zero weights into earlier (row, lane) slots within a lookahead/lookaside window and drops rows
// left all-zero, so the back end runs fewer rows. Deterministic (first candidate wins).
#pragma once
#include "cost/bit_grid.h"
#include "cost/cost_layer.h"

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace qs::core {

/// Which earlier slots a weight may be promoted into (§8.2).
/// LShape: (t+h, lane) for 1 <= h <= H, then (t+1, lane-d) for 1 <= d <= D.
/// TShape: (t+h, lane), (t+h, lane-h), (t+h, lane+h) for 1 <= h <= H, then (t+1, lane-H-1); D unused.
enum class SearchShape { LShape, TShape };
/// "l_shape", "t_shape".
std::string_view searchShapeName(SearchShape s);
/// Parses a name of searchShapeName; throws Error listing the names.
SearchShape searchShapeFromName(std::string_view name);

struct TacticalScheduleOptions {
    int lanes = 16;    ///< L: slots per filter per row; lookaside wraps within them
    int lookahead = 2; ///< H: rows ahead a weight may come from (front-end speedup at most H+1)
    int lookaside = 5; ///< D: lanes aside (L-shape), 1 <= D < L
    SearchShape shape = SearchShape::LShape;
    /// DNNsim drops every all-zero row once fewer than H were skipped in a row, so an all-zero set of
    /// Tf <= H rows vanishes (0 rows). True keeps at least one row per set (our recommendation: the
    /// hardware still has to issue the set).
    bool keepOneRow = false;
};

/// One set's schedule: `filters` filters side by side, each `lanes` wide, Tf original rows.
struct WeightSetSchedule {
    int originalRows = 0; ///< Tf
    int width = 0;        ///< filters * lanes
    int promotions = 0;   ///< non-zero weights moved to an earlier slot
    /// keptRows x width, row-major: the code each slot multiplies.
    std::vector<std::int32_t> weights;
    /// keptRows x width: original row * width + original column of the weight in each slot (the
    /// activation it needs). Zero weights keep their own origin (DNNsim swaps, so they still fetch one).
    std::vector<std::int32_t> origins;
    /// Original row index t of each kept row (the row whose window the kept row's promotions searched).
    std::vector<int> keptRowIndex;

    int keptRows() const {
        return width > 0 ? static_cast<int>(weights.size() / static_cast<std::size_t>(width)) : 0;
    }
    std::int32_t weight(int row, int column) const {
        return weights[static_cast<std::size_t>(row) * width + column];
    }
    int originRow(int row, int column) const {
        return origins[static_cast<std::size_t>(row) * width + column] / width;
    }
    int originColumn(int row, int column) const {
        return origins[static_cast<std::size_t>(row) * width + column] % width;
    }
};

/// Schedules one set given as Tf x width codes (row-major, width = filters * lanes, each filter's lanes
/// contiguous). Throws Error on a width not a multiple of lanes or bad options.
WeightSetSchedule scheduleWeightSet(std::span<const std::int32_t> rows, int width,
                                    const TacticalScheduleOptions& options);

/// Where a slot's weight sits, in the grid's terms (bit_grid.h): virtual filter v (< F/groups) paired with
/// input channel c, as DNNsim walks grouped convs; pairedWeight(layer, layout, v, c, ky, kx) is its code.
struct WeightSlot {
    std::int64_t filter = 0;  ///< virtual filter
    std::int64_t channel = 0; ///< input channel (all C)
    int ky = 0, kx = 0;
    bool padding = false; ///< channel >= C: a zero filling the last channel block (no activation behind it)
};

/// A layer's weights laid out and scheduled per §8.2: virtual filters in sets of `filtersPerSet`, each
/// filter's Tf = KX*KY*CB rows ordered (kx, ky, channel block) - the grid's steps -, L channels per row.
struct TacticalLayerSchedule {
    int lanes = 16;
    int filtersPerSet = 1;
    std::int64_t channels = 0, channelBlocks = 1;
    int KX = 1, KY = 1;
    std::vector<WeightSetSchedule> sets; ///< set s holds virtual filters [s*filtersPerSet, ...)

    std::int64_t originalRows() const { return channelBlocks * KX * KY; }
    /// The weight position behind original (row, column) of set s.
    WeightSlot slot(std::size_t set, int originalRow, int originalColumn) const;
    /// The weight position held by kept (row, column) of set s.
    WeightSlot scheduledSlot(std::size_t set, int keptRow, int column) const {
        const auto& s = sets[set];
        return slot(set, s.originRow(keptRow, column), s.originColumn(keptRow, column));
    }
};

/// Lays out and schedules a layer's weight codes (§8.2) on `layout`'s lanes (options.lanes is ignored).
/// `filtersPerSet` is DNNsim's min(R, ceil(F/T)) (over virtual filters).
TacticalLayerSchedule scheduleLayerWeights(const CostLayer& layer, const GridLayout& layout,
                                           int filtersPerSet, TacticalScheduleOptions options);

} // namespace qs::core
