// SPDX-License-Identifier: MIT
#include "eval/token_metrics.h"
#include "tensor/simd_f64.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace qs::core {
namespace {
constexpr double kInfinity = std::numeric_limits<double>::infinity();
}

double logSumExp(const float* logits, std::int64_t n) {
    const float mx = *std::max_element(logits, logits + n);
    if (!std::isfinite(mx)) return mx;
    // Four lanes of float64 sums, each in index order, added in a fixed order at the end.
    const simd::D4 shift = simd::splatD(mx);
    simd::D4 sum{};
    std::int64_t i = 0;
    for (; i + 4 <= n; i += 4) sum += simd::exp(simd::loadFloats(logits + i) - shift);
    if (i < n) sum += simd::exp(simd::loadFloatsPartial(logits + i, n - i, -kInfinity) - shift);
    return mx + std::log(simd::sum(sum));
}

double tokenNll(const float* logits, std::int64_t n, std::int32_t target) {
    return logSumExp(logits, n) - static_cast<double>(logits[target]);
}

double klDivergence(const float* referenceLogits, const float* logits, std::int64_t n) {
    return klDivergence(referenceLogits, logSumExp(referenceLogits, n), logits, logSumExp(logits, n), n);
}

double klDivergence(const float* referenceLogits, double lseRef, const float* logits, double lse, std::int64_t n) {
    // p_ref (log p_ref - log p) per lane, where p_ref > 0 (a token the reference rules out adds
    // nothing, whatever the candidate says); lanes past the end have p_ref = 0.
    const auto term = [&](simd::D4 logPRef, simd::D4 logP) {
        const simd::D4 pRef = simd::exp(logPRef);
        return pRef > 0 ? pRef * (logPRef - logP) : simd::D4{};
    };
    const simd::D4 refShift = simd::splatD(lseRef), shift = simd::splatD(lse);
    simd::D4 kl{};
    std::int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        kl += term(simd::loadFloats(referenceLogits + i) - refShift, simd::loadFloats(logits + i) - shift);
    if (i < n)
        kl += term(simd::loadFloatsPartial(referenceLogits + i, n - i, -kInfinity) - refShift,
                   simd::loadFloatsPartial(logits + i, n - i, 0) - shift);
    return simd::sum(kl);
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
