// SPDX-License-Identifier: MIT
// A deterministic slice of a sweep's grid, so N processes (e.g. a Slurm job array) share one sweep.
#pragma once
#include "experiment/sweep.h"

#include <string>
#include <vector>

namespace qs::core {

/// Shard `index` of `count`, 1-based (1..count), as Slurm numbers the tasks of `--array=1-N`.
struct SweepShard {
    int index = 1;
    int count = 1;

    /// "I/N".
    std::string text() const { return std::to_string(index) + "/" + std::to_string(count); }
};

/// Parses "I/N" (1 <= I <= N); throws Error quoting the text otherwise.
SweepShard parseSweepShard(const std::string& text);

/// What identifies a point's run apart from model, data and eval settings: the canonical recipe JSON
/// and, for a recipe that calibrates, the calibration file and window count. Empty for invalid points.
std::string sweepPointKey(const SweepPoint& point);

/// The points of `shard`: the grid's distinct valid keys sorted, and shard I takes those at sorted
/// positions I-1, I-1+N, I-1+2N, ... (round robin, so shards differ by at most one recipe). The slice
/// depends on the set of recipes, not on the grid's order; points with one key (duplicates) go to
/// the same shard, and invalid points to shard 1 only (reported once). The union over I = 1..N is
/// the whole grid, and the shards are disjoint. Points keep their grid order within a shard.
std::vector<SweepPoint> selectSweepShard(const std::vector<SweepPoint>& points, const SweepShard& shard);

} // namespace qs::core
