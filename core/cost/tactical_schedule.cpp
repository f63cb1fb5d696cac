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
    SetScheduler(std::span<const std::int32_t> rows, int width, const TacticalScheduleOptions& o)
        : opt_(o), window_(searchWindow(o)), width_(width),
          rows_(static_cast<int>(rows.size() / static_cast<std::size_t>(width))),
          codes_(rows.begin(), rows.end()), origins_(codes_.size()),
          candidates_(static_cast<std::size_t>(o.lanes) * window_.size()),
          candidateCount_(static_cast<std::size_t>(o.lanes)) {
        for (std::size_t i = 0; i < origins_.size(); ++i)
            origins_[i] = static_cast<std::int32_t>(i);
    }

    WeightSetSchedule run() {
        WeightSetSchedule out;
        out.originalRows = rows_;
        out.width = width_;
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
    /// rows below t, which change only as candidates are taken, so the windows are laid out once and their
    /// weights read live.
    void fillFilterRow(int t, int f) {
        const int L = opt_.lanes, first = f * L;
        zeroLanes_.clear();
        for (int lane = 0; lane < L; ++lane) {
            if (codes_[at(t, first + lane)] != 0) continue;
            zeroLanes_.push_back(lane);
            std::size_t n = 0;
            std::size_t* out = candidates_.data() + static_cast<std::size_t>(lane) * window_.size();
            for (const WindowOffset& w : window_) {
                if (t + w.rows >= rows_) continue;
                out[n++] = at(t + w.rows, first + ((lane + w.lanes) % L + L) % L);
            }
            candidateCount_[static_cast<std::size_t>(lane)] = n;
        }
        while (!zeroLanes_.empty()) {
            std::size_t best = 0, bestCount = 0, bestCandidate = 0;
            for (std::size_t z = 0; z < zeroLanes_.size(); ++z) {
                const auto lane = static_cast<std::size_t>(zeroLanes_[z]);
                const std::size_t* window = candidates_.data() + lane * window_.size();
                std::size_t count = 0, firstCandidate = 0;
                for (std::size_t k = 0; k < candidateCount_[lane]; ++k)
                    if (codes_[window[k]] != 0 && count++ == 0) firstCandidate = window[k];
                if (count == 0 || (bestCount > 0 && count >= bestCount)) continue;
                best = z, bestCount = count, bestCandidate = firstCandidate;
            }
            if (bestCount == 0) return;
            const std::size_t slot = at(t, first + zeroLanes_[best]);
            std::swap(codes_[slot], codes_[bestCandidate]);
            std::swap(origins_[slot], origins_[bestCandidate]);
            zeroLanes_.erase(zeroLanes_.begin() + static_cast<std::ptrdiff_t>(best));
            ++promotions_;
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
    std::vector<std::size_t> candidates_;     // [lane][window entry]: flat positions of a zero slot's window
    std::vector<std::size_t> candidateCount_; // [lane]: entries within the set's rows
    std::vector<int> zeroLanes_;              // lanes of the row still zero, ascending
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

} // namespace

WeightSetSchedule scheduleWeightSet(std::span<const std::int32_t> rows, int width,
                                    const TacticalScheduleOptions& options) {
    checkOptions(options);
    if (width <= 0 || width % options.lanes != 0 || rows.size() % static_cast<std::size_t>(width) != 0)
        throw Error("tactical schedule: width " + std::to_string(width) +
                    " must be a positive multiple of lanes " + std::to_string(options.lanes) +
                    " dividing the set's " + std::to_string(rows.size()) + " slots");
    return SetScheduler(rows, width, options).run();
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
    std::vector<std::int32_t> rows;
    for (std::int64_t first = 0; first < layout.virtualFilters; first += filtersPerSet) {
        const int filters =
            static_cast<int>(std::min<std::int64_t>(filtersPerSet, layout.virtualFilters - first));
        const int width = filters * options.lanes;
        rows.assign(static_cast<std::size_t>(Tf) * width, 0);
        for (int r = 0; r < Tf; ++r)
            for (int col = 0; col < width; ++col) {
                const WeightSlot s = out.slot(out.sets.size(), r, col);
                if (!s.padding)
                    rows[static_cast<std::size_t>(r) * width + col] =
                        pairedWeight(layer, layout, s.filter, s.channel, s.ky, s.kx);
            }
        out.sets.push_back(scheduleWeightSet(rows, width, options));
    }
    return out;
}

} // namespace qs::core
