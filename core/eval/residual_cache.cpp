// SPDX-License-Identifier: MIT
#include "eval/residual_cache.h"

#include <algorithm>
#include <functional>
#include <string_view>
#include <tuple>

namespace qs::core {
namespace {

// Order-dependent 64-bit combination (splitmix64's finaliser over the running value).
std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
    std::uint64_t z = h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

std::uint64_t hashText(std::string_view s) { return std::hash<std::string_view>{}(s); }

} // namespace

std::uint64_t replacedWeightHash(const std::string& name, const std::vector<float>& values) {
    const std::string_view bytes(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
    return mix(mix(hashText(name), values.size()), hashText(bytes));
}

std::vector<std::uint64_t> residualKeys(const Model& model, int layers,
                                        const std::map<std::string, std::vector<float>>& replaced,
                                        const std::string& hooksKey, const std::set<std::string>& unchanged) {
    std::map<std::string, std::uint64_t> hashes;
    for (const auto& [name, values] : replaced) hashes[name] = replacedWeightHash(name, values);
    return residualKeysOfHashes(model, layers, hashes, hooksKey, unchanged);
}

std::vector<std::uint64_t> residualKeysOfHashes(const Model& model, int layers,
                                                const std::map<std::string, std::uint64_t>& replacedHashes,
                                                const std::string& hooksKey, const std::set<std::string>& unchanged) {
    std::map<std::string, int> layerOf;
    for (const WeightInfo& w : model.weights()) layerOf[w.name] = w.layerIndex;
    // Per layer, the replaced weights' hashes in name order (the map's order); index 0 also takes
    // everything outside the decoder layers, which the embedding (and so every layer) may read.
    std::vector<std::uint64_t> layerHash(static_cast<std::size_t>(layers) + 1, 0);
    for (const auto& [name, hash] : replacedHashes) {
        if (unchanged.count(name)) continue;
        const auto it = layerOf.find(name);
        const int layer = it == layerOf.end() || it->second < 0 || it->second >= layers ? -1 : it->second;
        auto& h = layerHash[static_cast<std::size_t>(layer + 1)];
        h = mix(h, hash);
    }
    std::vector<std::uint64_t> keys(static_cast<std::size_t>(layers) + 1);
    keys[0] = mix(hashText(hooksKey), layerHash[0]);
    for (int l = 0; l < layers; ++l)
        keys[static_cast<std::size_t>(l) + 1] = mix(keys[static_cast<std::size_t>(l)], layerHash[static_cast<std::size_t>(l) + 1]);
    return keys;
}

std::size_t streamBytes(const ResidualCache::Streams& s) {
    std::size_t bytes = 0;
    for (const auto& m : s) bytes += static_cast<std::size_t>(m.size()) * sizeof(float);
    return bytes;
}

std::vector<RowMatrixF> logitsFromLayer(const CausalLm& lm, std::span<const std::span<const std::int32_t>> windows,
                                        int start, const RowMatrixF* entering, std::span<const int> keep,
                                        std::span<RowMatrixF* const> kept) {
    if (start == 0 && keep.empty()) return lm.forwardBatch(windows);
    const auto count = static_cast<std::int64_t>(windows.size());
    const auto seq = static_cast<std::int64_t>(windows.front().size());
    RowMatrixF x = start > 0 ? stackRows({entering, windows.size()}) : lm.embedBatch(windows);
    std::size_t next = 0;
    for (int l = start; l < lm.numLayers(); ++l) {
        for (; next < keep.size() && keep[next] <= l; ++next)
            if (keep[next] == l)
                for (std::int64_t j = 0; j < count; ++j) kept[next][j] = x.middleRows(j * seq, seq);
        lm.runLayer(l, x, nullptr, static_cast<int>(count));
    }
    return unstackRows(lm.logits(x), windows.size());
}

PrefixRun::PrefixRun(ResidualCache& cache, std::vector<std::uint64_t> keys, std::size_t windows, std::size_t bytesPerLayer,
                     bool pinned)
    : m_cache(cache), m_keys(std::move(keys)), m_pinned(pinned) {
    std::tie(m_start, m_entering) = m_cache.deepest(m_keys);
    m_keep = m_cache.layersToKeep(m_start, static_cast<int>(m_keys.size()) - 1, bytesPerLayer, pinned);
    m_kept.assign(m_keep.size(), ResidualCache::Streams(windows));
}

std::vector<RowMatrixF> PrefixRun::logits(const CausalLm& lm, std::size_t first,
                                          std::span<const std::span<const std::int32_t>> windows) {
    std::vector<RowMatrixF*> kept;
    for (auto& s : m_kept) kept.push_back(&s[first]);
    return logitsFromLayer(lm, windows, m_start, m_entering ? &(*m_entering)[first] : nullptr, m_keep, kept);
}

void PrefixRun::keepAll() {
    for (std::size_t i = 0; i < m_keep.size(); ++i)
        m_cache.keep(m_keys[static_cast<std::size_t>(m_keep[i])], std::make_shared<const ResidualCache::Streams>(std::move(m_kept[i])),
                     m_pinned);
    m_kept.clear();
}

std::pair<int, std::shared_ptr<const ResidualCache::Streams>> ResidualCache::deepest(std::span<const std::uint64_t> keys) {
    std::lock_guard lock(m_mutex);
    for (std::size_t l = keys.size(); l-- > 1;) {
        const auto it = m_entries.find(keys[l]);
        if (it == m_entries.end()) continue;
        if (it->second.age != m_ages.end()) m_ages.splice(m_ages.begin(), m_ages, it->second.age);
        return {static_cast<int>(l), it->second.streams};
    }
    return {0, nullptr};
}

void ResidualCache::keep(std::uint64_t key, std::shared_ptr<const Streams> streams, bool pinned) {
    const std::size_t bytes = streamBytes(*streams);
    std::lock_guard lock(m_mutex);
    if (m_entries.count(key)) return;
    if (pinned) {
        if (m_pinnedBytes + bytes > m_limit / 2) return;
        m_pinnedBytes += bytes;
    } else if (m_pinnedBytes + bytes > m_limit) {
        return;
    }
    while (m_bytes + bytes > m_limit) { // only unpinned entries are in m_ages
        const std::uint64_t oldest = m_ages.back();
        m_bytes -= m_entries.at(oldest).bytes;
        m_entries.erase(oldest);
        m_ages.pop_back();
    }
    if (!pinned) m_ages.push_front(key);
    m_entries.emplace(key, Entry{std::move(streams), bytes, pinned ? m_ages.end() : m_ages.begin()});
    m_bytes += bytes;
}

std::vector<int> ResidualCache::layersToKeep(int start, int layers, std::size_t bytesPerLayer, bool pinned) const {
    std::vector<int> keep;
    const int candidates = layers - 1 - start;
    const std::size_t room = pinned ? m_limit / 2 : m_limit;
    if (candidates <= 0 || bytesPerLayer == 0 || bytesPerLayer > room) return keep;
    const auto fit = static_cast<int>(std::min<std::size_t>(room / bytesPerLayer, static_cast<std::size_t>(candidates)));
    // `fit` layers spread over start+1 .. layers-1, the deepest included (it saves the most).
    for (int i = fit; i >= 1; --i) keep.push_back(layers - 1 - (static_cast<long long>(fit - i) * candidates) / fit);
    std::sort(keep.begin(), keep.end());
    keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
    return keep;
}

} // namespace qs::core
