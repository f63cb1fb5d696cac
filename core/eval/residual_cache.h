// SPDX-License-Identifier: MIT
#pragma once
// Residual streams of earlier evaluations of the same windows, so that an evaluation whose first
// layers compute exactly what an earlier one's did starts after them: a sweep's recipes that differ
// only from layer L on, or that leave layers below L in float32, share the stream entering L.
#include "model/model.h"
#include "nn/causal_lm.h"

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace qs::core {

/// Identities of the residual stream entering each decoder layer (keys[l], l = 0..layers) of `model`
/// with `replaced` weights (as CausalLm takes them) and forward hooks described by `hooksKey`. Two
/// evaluations of the same windows whose keys[l] agree compute the same stream entering layer l bit for
/// bit: keys[l] covers the hooks, the replaced weights outside the decoder layers (embedding, head) and
/// every replaced weight of layers < l, by name and content. Names in `unchanged` (weights replaced by
/// their own stored values, e.g. a recipe's "keep") count as not replaced.
std::vector<std::uint64_t> residualKeys(const Model& model, int layers,
                                        const std::map<std::string, std::vector<float>>& replaced,
                                        const std::string& hooksKey, const std::set<std::string>& unchanged = {});

/// One replaced weight's identity in residualKeys (its name and every value's bits).
std::uint64_t replacedWeightHash(const std::string& name, const std::vector<float>& values);

/// residualKeys from each replaced weight's replacedWeightHash, for a caller that installs the weights
/// as they are made instead of holding them all.
std::vector<std::uint64_t> residualKeysOfHashes(const Model& model, int layers,
                                                const std::map<std::string, std::uint64_t>& replacedHashes,
                                                const std::string& hooksKey, const std::set<std::string>& unchanged = {});

/// Streams (one [ctx, hidden] matrix per window) by key, holding at most `byteLimit` bytes: the least
/// recently used go first, except pinned ones (the fp32 model's, which every recipe that leaves its
/// first layers in float32 reads), which take at most half the limit and stay. Thread-safe.
class ResidualCache {
public:
    using Streams = std::vector<RowMatrixF>;

    explicit ResidualCache(std::size_t byteLimit) : m_limit(byteLimit) {}

    /// The deepest l >= 1 whose keys[l] is kept, with its streams; {0, nullptr} when there is none.
    std::pair<int, std::shared_ptr<const Streams>> deepest(std::span<const std::uint64_t> keys);
    /// Keeps `streams` under `key` (nothing when the key is kept already or the streams exceed the room).
    void keep(std::uint64_t key, std::shared_ptr<const Streams> streams, bool pinned = false);
    /// The layers (start < l < layers) whose entering streams an evaluation starting at `start` should
    /// keep: every one while they fit in the limit (half of it when pinned), else evenly spaced ones.
    std::vector<int> layersToKeep(int start, int layers, std::size_t streamBytes, bool pinned = false) const;

private:
    struct Entry {
        std::shared_ptr<const Streams> streams;
        std::size_t bytes = 0;
        std::list<std::uint64_t>::iterator age; // m_ages.end() when pinned
    };
    const std::size_t m_limit;
    std::size_t m_bytes = 0, m_pinnedBytes = 0;
    std::mutex m_mutex;
    std::map<std::uint64_t, Entry> m_entries;
    std::list<std::uint64_t> m_ages; // most recently used first
};

/// Bytes of a set of streams.
std::size_t streamBytes(const ResidualCache::Streams& s);

/// One evaluation of every window through a model whose residual keys are `keys`: it starts at the
/// deepest layer the cache has the entering streams of, and keeps on its way those the cache takes.
class PrefixRun {
public:
    /// `bytesPerLayer`: the streams of every window entering one layer; `pinned`: keep them pinned.
    PrefixRun(ResidualCache& cache, std::vector<std::uint64_t> keys, std::size_t windows, std::size_t bytesPerLayer,
              bool pinned = false);
    /// The first decoder layer this evaluation runs.
    int start() const { return m_start; }
    /// The logits by `lm` of windows first, first + 1, ... (their tokens in `windows`), run together
    /// (see logitsFromLayer). Distinct windows may run on distinct threads.
    std::vector<RowMatrixF> logits(const CausalLm& lm, std::size_t first,
                                   std::span<const std::span<const std::int32_t>> windows);
    /// Hands the kept streams to the cache, once every window ran.
    void keepAll();

private:
    ResidualCache& m_cache;
    std::vector<std::uint64_t> m_keys;
    int m_start = 0;
    std::shared_ptr<const ResidualCache::Streams> m_entering;
    std::vector<int> m_keep;
    std::vector<ResidualCache::Streams> m_kept; // [m_keep index][window]
    bool m_pinned = false;
};

/// The logits of `windows` (of one length) by `lm`, run together (CausalLm::runLayer with a batch)
/// from decoder layer `start`: from the embedding when start is 0, else from entering[j] (window j's
/// stream entering that layer); each window's bits are lm.forward(window)'s when entering[j] is what
/// forward() had there. Window j's stream entering each layer keep[i] (ascending) is copied to kept[i][j].
std::vector<RowMatrixF> logitsFromLayer(const CausalLm& lm, std::span<const std::span<const std::int32_t>> windows,
                                        int start, const RowMatrixF* entering, std::span<const int> keep,
                                        std::span<RowMatrixF* const> kept);

} // namespace qs::core
