// SPDX-License-Identifier: MIT
#include "experiment/sweep_shard.h"

#include "base/error.h"

#include <algorithm>
#include <charconv>
#include <map>

namespace qs::core {
namespace {

bool parseInt(const std::string& s, int& out) {
    const char* end = s.data() + s.size();
    const auto [p, ec] = std::from_chars(s.data(), end, out);
    return ec == std::errc() && p == end;
}

} // namespace

SweepShard parseSweepShard(const std::string& text) {
    const auto slash = text.find('/');
    SweepShard s;
    if (slash == std::string::npos || !parseInt(text.substr(0, slash), s.index) ||
        !parseInt(text.substr(slash + 1), s.count) || s.count < 1 || s.index < 1 || s.index > s.count)
        throw Error("--shard " + text + ": expected I/N with 1 <= I <= N (e.g. --shard 2/4)");
    return s;
}

std::string sweepPointKey(const SweepPoint& point) {
    if (!point.recipe) return {};
    // expandGrid clears calib for recipes that do not calibrate, so it only splits keys that differ.
    return point.recipe->canonical() + "\n" + point.calib + "\n" + std::to_string(point.calibWindows);
}

std::vector<SweepPoint> selectSweepShard(const std::vector<SweepPoint>& points, const SweepShard& shard) {
    if (shard.count < 1 || shard.index < 1 || shard.index > shard.count)
        throw Error("shard " + shard.text() + ": expected 1 <= I <= N");
    std::map<std::string, std::size_t> rank; // sorted distinct keys -> position
    for (const auto& p : points)
        if (p.recipe) rank.emplace(sweepPointKey(p), 0);
    std::size_t n = 0;
    for (auto& [key, r] : rank) r = n++;
    std::vector<SweepPoint> out;
    for (const auto& p : points) {
        const bool mine = p.recipe ? static_cast<int>(rank.at(sweepPointKey(p)) % static_cast<std::size_t>(shard.count)) ==
                                         shard.index - 1
                                   : shard.index == 1;
        if (mine) out.push_back(p);
    }
    return out;
}

} // namespace qs::core
