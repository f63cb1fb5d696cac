// SPDX-License-Identifier: MIT
#include "tokenizer/bpe.h"

#include <queue>

namespace qs::core::bpe {

void MergeTable::mergeAll(std::vector<std::int32_t>& symbols) const {
    const std::size_t n = symbols.size();
    if (n < 2) return;
    if (n == 2) { // the common short case needs no queue
        if (const Entry* e = find(symbols[0], symbols[1])) symbols = {e->merged};
        return;
    }
    struct Candidate {
        std::int32_t rank;
        std::int32_t pos;
        std::int32_t merged;
        bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::vector<std::int32_t> prev(n), next(n);
    std::vector<bool> alive(n, true);
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
    for (std::size_t i = 0; i < n; ++i) {
        prev[i] = static_cast<std::int32_t>(i) - 1;
        next[i] = i + 1 < n ? static_cast<std::int32_t>(i + 1) : -1;
        if (i + 1 < n)
            if (const Entry* e = find(symbols[i], symbols[i + 1]))
                queue.push({e->rank, static_cast<std::int32_t>(i), e->merged});
    }
    while (!queue.empty()) {
        const Candidate top = queue.top();
        queue.pop();
        const auto pos = static_cast<std::size_t>(top.pos);
        if (!alive[pos] || next[pos] < 0) continue;
        const auto right = static_cast<std::size_t>(next[pos]);
        // Entries go stale when a neighbour merged first: check the pair still makes this token.
        const Entry* e = find(symbols[pos], symbols[right]);
        if (!e || e->merged != top.merged) continue;
        symbols[pos] = top.merged;
        alive[right] = false;
        next[pos] = next[right];
        if (next[right] >= 0) prev[static_cast<std::size_t>(next[right])] = top.pos;
        if (prev[pos] >= 0) {
            const auto p = static_cast<std::size_t>(prev[pos]);
            if (const Entry* pe = find(symbols[p], symbols[pos]))
                queue.push({pe->rank, prev[pos], pe->merged});
        }
        if (next[pos] >= 0)
            if (const Entry* ne = find(symbols[pos], symbols[static_cast<std::size_t>(next[pos])]))
                queue.push({ne->rank, top.pos, ne->merged});
    }
    std::size_t out = 0;
    for (std::size_t i = 0; i < n; ++i)
        if (alive[i]) symbols[out++] = symbols[i];
    symbols.resize(out);
}

} // namespace qs::core::bpe
