// SPDX-License-Identifier: MIT
#pragma once
// Attention spans (after arXiv 2404.09336, without fine-tuning: read off the attention itself): per
// head, the smallest recency window that, with the first few "sink" keys, holds a given share of each
// query's attention mass on the data; then the model evaluated with attention masked to those spans
// (sparse attention), and the attention work and KV cache the spans save.
#include "analysis/analysis.h"

#include <cstdint>
#include <vector>

namespace qs::core {

/// The smallest r >= 1 such that keys i-r+1..i plus the sink keys 0..sinks-1 hold at least `mass` of
/// query i's probabilities row[lo..i] (lo: the first key the query sees). mass >= 1 gives i - lo + 1.
int recencySpan(const float* row, std::int64_t i, std::int64_t lo, int sinks, double mass);

/// Keys query i (seeing lo..i) keeps under a span (0: all) and `sinks` sink keys.
std::int64_t keptKeys(std::int64_t i, std::int64_t lo, std::int64_t span, std::int64_t sinks);

/// The value at `fraction` (nearest rank) of the distribution whose counts[v] values equal v.
int quantileOfCounts(const std::vector<long long>& counts, double fraction);

/// "spans". Parameters: mass, sinks, quantile (a head's span: this quantile of its queries' spans;
/// 1 = the largest, so every query of the data keeps at least `mass`), block (round spans up to
/// multiples of this many keys, the kernel tile; 0: none). Rows: one per layer and head. Arrays:
/// span, median, p95 [layers x heads].
class SpansAnalysis : public Analysis {
public:
    std::string_view name() const override { return "spans"; }
    std::string_view summary() const override {
        return "per-head attention spans holding a share of the attention mass; sparse attention's perplexity";
    }
    const ParamSchema& params() const override;
    AnalysisOutput run(const AnalysisInput& input, const nlohmann::json& params, const JobContext& job) const override;
};

} // namespace qs::core
