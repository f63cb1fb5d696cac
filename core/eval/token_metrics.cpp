// SPDX-License-Identifier: MIT
#include "eval/token_metrics.h"

#include <algorithm>
#include <cmath>

namespace qs::core {

double logSumExp(const float* logits, std::int64_t n) {
    const float mx = *std::max_element(logits, logits + n);
    if (!std::isfinite(mx)) return mx;
    double sum = 0;
    for (std::int64_t i = 0; i < n; ++i)
        sum += std::exp(static_cast<double>(logits[i]) - mx);
    return mx + std::log(sum);
}

double tokenNll(const float* logits, std::int64_t n, std::int32_t target) {
    return logSumExp(logits, n) - static_cast<double>(logits[target]);
}

double klDivergence(const float* referenceLogits, const float* logits, std::int64_t n) {
    return klDivergence(referenceLogits, logSumExp(referenceLogits, n), logits, logSumExp(logits, n), n);
}

double klDivergence(const float* referenceLogits, double lseRef, const float* logits, double lse, std::int64_t n) {
    double kl = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        const double logPRef = referenceLogits[i] - lseRef;
        const double logP = logits[i] - lse;
        const double pRef = std::exp(logPRef);
        if (pRef > 0) kl += pRef * (logPRef - logP);
    }
    return kl;
}

std::int64_t argmax(const float* logits, std::int64_t n) {
    return std::max_element(logits, logits + n) - logits;
}

double percentileOfSorted(const std::vector<double>& sorted, double fraction) {
    if (sorted.empty()) return 0;
    if (fraction <= 0) return sorted.front();
    if (fraction >= 1) return sorted.back();
    const double pos = fraction * static_cast<double>(sorted.size() - 1);
    const auto i = static_cast<std::size_t>(pos);
    const double t = pos - static_cast<double>(i);
    const std::size_t j = std::min(i + 1, sorted.size() - 1);
    return (1 - t) * sorted[i] + t * sorted[j];
}

} // namespace qs::core
