// SPDX-License-Identifier: MIT
#include "cost/tactical_schedule.h"

#include "base/error.h"

#include <algorithm>
#include <string>

namespace qs::core {

std::string_view searchShapeName(SearchShape s) {
    return s == SearchShape::LShape ? "l_shape" : "t_shape";
}

SearchShape searchShapeFromName(std::string_view name) {
    if (name == "l_shape") return SearchShape::LShape;
    if (name == "t_shape") return SearchShape::TShape;
    throw Error("unknown search shape '" + std::string(name) + "' (l_shape, t_shape)");
}

namespace {

/// One entry of the search window: rows ahead and lanes aside (wrapping within the filter) of a zero slot.
struct WindowOffset {
    int rows = 0, lanes = 0;
};

/// The search window in its search order (§8.2; the first non-zero candidate wins).
std::vector<WindowOffset> searchWindow(const TacticalScheduleOptions& o) {
    std::vector<WindowOffset> w;
    const int H = o.lookahead;
    for (int h = 1; h <= H; ++h)
        w.push_back({h, 0});
    if (o.shape == SearchShape::LShape) {
        for (int d = 1; d <= o.lookaside; ++d)
            w.push_back({1, -d});
        return w;
    }
    for (int h = 1; h <= H; ++h)
        w.push_back({h, -h});
    for (int h = 1; h <= H; ++h)
        w.push_back({h, h});
    // DNNsim's extra T-shape entry (lane - H - 1); the spec's "lane + H - 1" would repeat (t+1, lane+1) at H
    // = 2.
    w.push_back({1, -H - 1});
    return w;
}

/// The dense pass over one set (§8.2), on a working copy of its rows.
class SetScheduler {
public:
    SetScheduler(std::vector<std::int32_t> rows, int width, const TacticalScheduleOptions& o)
        : opt_(o), window_(searchWindow(o)), width_(width),
          rows_(static_cast<int>(rows.size() / static_cast<std::size_t>(width))), codes_(std::move(rows)),
          origins_(codes_.size()),
          candidates_(static_cast<std::size_t>(o.lanes) * window_.size()),
          windowLane_(candidates_.size()), ownerLane_(candidates_.size()),
          pending_(static_cast<std::size_t>(o.lanes)), count_(pending_.size()), first_(pending_.size()) {
        for (std::size_t i = 0; i < origins_.size(); ++i)
            origins_[i] = static_cast<std::int32_t>(i);
        const int L = o.lanes;
        for (int lane = 0; lane < L; ++lane)
            for (std::size_t k = 0; k < window_.size(); ++k) {
                const std::size_t i = static_cast<std::size_t>(lane) * window_.size() + k;
                windowLane_[i] = ((lane + window_[k].lanes) % L + L) % L;
                ownerLane_[i] = ((lane - window_[k].lanes) % L + L) % L;
            }
    }

    WeightSetSchedule run() {
        WeightSetSchedule out;
        out.originalRows = rows_;
        out.width = width_;
        out.weights.reserve(codes_.size());
        out.origins.reserve(codes_.size());
        int skipped = 0;
        for (int t = 0; t < rows_; ++t) {
            // Rows emptied by earlier promotions vanish too, but never more than H in a row: the
            // hardware's window reaches only H rows ahead.
            if (skipped < opt_.lookahead && rowIsZero(t)) {
                ++skipped;
                continue;
            }
            skipped = 0;
            for (int f = 0; f < width_ / opt_.lanes; ++f)
                fillFilterRow(t, f);
            appendRow(out, t);
        }
        if (out.keptRows() == 0 && opt_.keepOneRow && rows_ > 0) appendRow(out, 0);
        out.promotions = promotions_;
        return out;
    }

private:
    std::size_t at(int row, int column) const { return static_cast<std::size_t>(row) * width_ + column; }

    bool rowIsZero(int t) const {
        for (int c = 0; c < width_; ++c)
            if (codes_[at(t, c)] != 0) return false;
        return true;
    }

    /// Fills filter f's zero slots of row t: the slot with the fewest non-zero candidates (>= 1) first,
    /// lowest lane on ties, takes its first candidate; until no zero slot has one. A slot's window lies in
    /// rows below t, which change only as candidates are taken (a taken candidate turns zero), so the windows
    /// are laid out once and each slot's count and first candidate kept up to date as candidates go.
    void fillFilterRow(int t, int f) {
        const int L = opt_.lanes, first = f * L;
        const std::size_t W = window_.size();
        zeroLanes_.clear();
        // Zero slots with candidates; a slot left without any never gets one back (counts only fall), so it drops
        // out of the search.
        for (int lane = 0; lane < L; ++lane) {
            const auto l = static_cast<std::size_t>(lane);
            pending_[l] = 0;
            if (codes_[at(t, first + lane)] != 0) continue;
            std::size_t* window = candidates_.data() + l * W;
            const int* lanes = windowLane_.data() + l * W;
            int count = 0, firstEntry = -1;
            for (std::size_t k = 0; k < W; ++k) {
                window[k] = t + window_[k].rows < rows_ ? at(t + window_[k].rows, first + lanes[k]) : kOutside;
                if (window[k] != kOutside && codes_[window[k]] != 0 && count++ == 0)
                    firstEntry = static_cast<int>(k);
            }
            if (count == 0) continue;
            pending_[l] = 1;
            zeroLanes_.push_back(lane);
            count_[l] = count, first_[l] = firstEntry;
        }
        while (!zeroLanes_.empty()) {
            std::size_t best = 0;
            for (std::size_t z = 1; z < zeroLanes_.size(); ++z)
                if (count_[static_cast<std::size_t>(zeroLanes_[z])] < count_[static_cast<std::size_t>(zeroLanes_[best])])
                    best = z;
            const auto lane = static_cast<std::size_t>(zeroLanes_[best]);
            const std::size_t taken = candidates_[lane * W + static_cast<std::size_t>(first_[lane])];
            const std::size_t slot = at(t, first + zeroLanes_[best]);
            std::swap(codes_[slot], codes_[taken]);
            std::swap(origins_[slot], origins_[taken]);
            zeroLanes_.erase(zeroLanes_.begin() + static_cast<std::ptrdiff_t>(best));
            pending_[lane] = false;
            ++promotions_;
            // `taken` is zero now: each still-zero slot whose window entry k holds it counts one fewer.
            const int rowsAhead = static_cast<int>(taken / static_cast<std::size_t>(width_)) - t;
            const auto takenLane = static_cast<std::size_t>(static_cast<int>(taken % static_cast<std::size_t>(width_)) - first);
            for (std::size_t k = 0; k < W; ++k) {
                if (window_[k].rows != rowsAhead) continue;
                const auto owner = static_cast<std::size_t>(ownerLane_[takenLane * W + k]);
                if (!pending_[owner]) continue;
                if (--count_[owner] == 0) { // no candidate left: out of the search
                    pending_[owner] = 0;
                    zeroLanes_.erase(std::find(zeroLanes_.begin(), zeroLanes_.end(), static_cast<int>(owner)));
                    continue;
                }
                if (first_[owner] != static_cast<int>(k)) continue;
                first_[owner] = -1; // its first candidate went: the next non-zero one
                for (std::size_t next = k + 1; next < W; ++next) {
                    const std::size_t p = candidates_[owner * W + next];
                    if (p != kOutside && codes_[p] != 0) {
                        first_[owner] = static_cast<int>(next);
                        break;
                    }
                }
            }
        }
    }

    void appendRow(WeightSetSchedule& out, int t) const {
        out.weights.insert(out.weights.end(), codes_.begin() + at(t, 0), codes_.begin() + at(t, 0) + width_);
        out.origins.insert(out.origins.end(), origins_.begin() + at(t, 0),
                           origins_.begin() + at(t, 0) + width_);
        out.keptRowIndex.push_back(t);
    }

    const TacticalScheduleOptions& opt_;
    std::vector<WindowOffset> window_;
    int width_, rows_;
    std::vector<std::int32_t> codes_, origins_;
    static constexpr std::size_t kOutside = ~std::size_t{0}; // a window entry past the set's last row
    std::vector<std::size_t> candidates_; // [lane][window entry]: flat positions of a zero slot's window
    std::vector<int> windowLane_;         // [lane][window entry]: the entry's lane, wrapped within the filter
    std::vector<int> ownerLane_;          // [lane][window entry]: the slot whose entry k is that lane
    std::vector<char> pending_;           // [lane]: a zero slot of the row still to fill
    std::vector<int> count_, first_;      // [lane]: its non-zero candidates, the entry of the first (-1: none)
    std::vector<int> zeroLanes_;          // lanes of the row still zero, ascending
    int promotions_ = 0;
};

void checkOptions(const TacticalScheduleOptions& o) {
    if (o.lanes < 1) throw Error("tactical schedule: lanes must be at least 1");
    if (o.lookahead < 0) throw Error("tactical schedule: lookahead must not be negative");
    if (o.shape == SearchShape::LShape && (o.lookaside < 0 || o.lookaside >= o.lanes))
        throw Error("tactical schedule: lookaside " + std::to_string(o.lookaside) +
                    " must lie in [0, lanes - 1 = " + std::to_string(o.lanes - 1) + "]");
    if (o.shape == SearchShape::TShape && o.lookahead + 1 >= o.lanes)
        throw Error("tactical schedule: the T shape needs lookahead + 1 below lanes");
}

// Schedules one set's rows (Tf x width codes), taking them over as its working copy.
WeightSetSchedule scheduleSet(std::vector<std::int32_t> rows, int width, const TacticalScheduleOptions& options) {
    checkOptions(options);
    if (width <= 0 || width % options.lanes != 0 || rows.size() % static_cast<std::size_t>(width) != 0)
        throw Error("tactical schedule: width " + std::to_string(width) +
                    " must be a positive multiple of lanes " + std::to_string(options.lanes) +
                    " dividing the set's " + std::to_string(rows.size()) + " slots");
    return SetScheduler(std::move(rows), width, options).run();
}

} // namespace

WeightSetSchedule scheduleWeightSet(std::span<const std::int32_t> rows, int width,
                                    const TacticalScheduleOptions& options) {
    return scheduleSet(std::vector<std::int32_t>(rows.begin(), rows.end()), width, options);
}

WeightSlot TacticalLayerSchedule::slot(std::size_t set, int originalRow, int originalColumn) const {
    WeightSlot s;
    s.filter = static_cast<std::int64_t>(set) * filtersPerSet + originalColumn / lanes;
    const std::int64_t block = originalRow % channelBlocks;
    const std::int64_t kernel = originalRow / channelBlocks; // kx * KY + ky
    s.kx = static_cast<int>(kernel / KY);
    s.ky = static_cast<int>(kernel % KY);
    s.channel = block * lanes + originalColumn % lanes;
    s.padding = s.channel >= channels;
    return s;
}

TacticalLayerSchedule scheduleLayerWeights(const CostLayer& layer, const GridLayout& layout,
                                           int filtersPerSet, TacticalScheduleOptions options) {
    if (filtersPerSet < 1) throw Error("tactical schedule: filters per set must be at least 1");
    options.lanes = layout.grid.lanes;
    TacticalLayerSchedule out;
    out.lanes = options.lanes;
    out.filtersPerSet = filtersPerSet;
    out.KX = layout.kernelX;
    out.KY = layout.kernelY;
    out.channels = layout.channels;
    out.channelBlocks = layout.channelBlocks;
    const int Tf = static_cast<int>(out.originalRows());
    // Sets are independent: each is laid out and scheduled on its own, in parallel, into its own entry.
    out.sets.resize(static_cast<std::size_t>((layout.virtualFilters + filtersPerSet - 1) / filtersPerSet));
    parallelChunks(static_cast<std::int64_t>(out.sets.size()), 1, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t set = begin; set < end; ++set) {
            const std::int64_t first = set * filtersPerSet;
            const int filters = static_cast<int>(std::min<std::int64_t>(filtersPerSet, layout.virtualFilters - first));
            const int width = filters * options.lanes;
            std::vector<std::int32_t> rows(static_cast<std::size_t>(Tf) * width, 0);
            for (int r = 0; r < Tf; ++r) {
                const WeightSlot row = out.slot(static_cast<std::size_t>(set), r, 0); // kernel position, first channel
                std::int32_t* codes = rows.data() + static_cast<std::size_t>(r) * width;
                for (int f = 0; f < filters; ++f)
                    for (int lane = 0; lane < options.lanes; ++lane)
                        if (row.channel + lane < layout.channels) // else channel padding: zero
                            codes[f * options.lanes + lane] =
                                pairedWeight(layer, layout, first + f, row.channel + lane, row.ky, row.kx);
            }
            out.sets[static_cast<std::size_t>(set)] = scheduleSet(std::move(rows), width, options);
        }
    });
    return out;
}

} // namespace qs::core
