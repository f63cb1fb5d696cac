// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>
#include <vector>

namespace qs::core {

/// log(sum_i exp(x_i)) of n logits, max-shifted, accumulated in float64.
double logSumExp(const float* logits, std::int64_t n);

/// Negative log-likelihood of `target` under softmax(logits): logSumExp - logits[target].
double tokenNll(const float* logits, std::int64_t n, std::int32_t target);

/// KL(P_ref || P) = sum_i p_ref,i (log p_ref,i - log p_i) of the softmax distributions of two logit
/// rows (float64; >= 0 up to rounding), as llama.cpp's perplexity tool reports it.
double klDivergence(const float* referenceLogits, const float* logits, std::int64_t n);
/// The same, given each row's logSumExp (a scorer that also needs them for the NLLs computes them once).
double klDivergence(const float* referenceLogits, double referenceLse, const float* logits, double lse, std::int64_t n);

/// Index of the largest logit (the first one on ties).
std::int64_t argmax(const float* logits, std::int64_t n);

/// Percentile of ascending `sorted` values, linear interpolation between neighbours at
/// fraction * (n - 1) (llama.cpp's rule); 0 for an empty vector.
double percentileOfSorted(const std::vector<double>& sorted, double fraction);

} // namespace qs::core
