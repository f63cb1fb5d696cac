// SPDX-License-Identifier: MIT
#pragma once
#include <vector>

namespace qs::core {

/// Ranks 1..n of `values`, ties sharing their average rank (the convention of Spearman's rho).
std::vector<double> averageRanks(const std::vector<double>& values);

/// Spearman's rank correlation: Pearson's correlation of the average ranks. NaN when the vectors
/// differ in length, hold fewer than 2 values, or one of them is constant.
double spearmanRho(const std::vector<double>& x, const std::vector<double>& y);

/// Pearson's correlation; NaN as spearmanRho.
double pearsonR(const std::vector<double>& x, const std::vector<double>& y);

/// Kendall's tau-b (ties in either vector corrected for); NaN as spearmanRho. O(n²): for the tens to
/// hundreds of candidates an analysis compares.
double kendallTau(const std::vector<double>& x, const std::vector<double>& y);

/// The share of pairs the two orderings disagree on, (1 − tau-b) / 2.
inline double misrankingRate(const std::vector<double>& x, const std::vector<double>& y) {
    return (1.0 - kendallTau(x, y)) / 2.0;
}

} // namespace qs::core
