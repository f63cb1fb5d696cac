// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

// Shared pieces of the BPE tokenizers: a string map that accepts string_view keys and the rank-ordered
// merge loop of Hugging Face's BPE model.
namespace qs::core::bpe {

/// Hash that lets unordered containers look std::string keys up by std::string_view.
struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

/// Vocabulary: token string -> id, searchable without building a std::string.
using StringMap = std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>>;

/// The merge table of a rank-ordered BPE: (left id, right id) -> (rank, merged id).
class MergeTable {
public:
    /// Adds a merge; a later merge of the same pair replaces the earlier one (as tokenizers does).
    void add(std::int32_t left, std::int32_t right, std::int32_t rank, std::int32_t merged) {
        m_merges.insert_or_assign(key(left, right), Entry{rank, merged});
    }
    /// Number of distinct pairs.
    std::size_t size() const { return m_merges.size(); }

    /// Merges `symbols` in place: repeatedly the adjacent pair of lowest rank, leftmost first among
    /// equal ranks, until no adjacent pair has a merge (tokenizers' Word::merge_all without dropout).
    void mergeAll(std::vector<std::int32_t>& symbols) const;

private:
    struct Entry {
        std::int32_t rank;
        std::int32_t merged;
    };
    static std::uint64_t key(std::int32_t l, std::int32_t r) {
        return (std::uint64_t(std::uint32_t(l)) << 32) | std::uint32_t(r);
    }
    const Entry* find(std::int32_t l, std::int32_t r) const {
        auto it = m_merges.find(key(l, r));
        return it == m_merges.end() ? nullptr : &it->second;
    }

    std::unordered_map<std::uint64_t, Entry> m_merges;
};

} // namespace qs::core::bpe
