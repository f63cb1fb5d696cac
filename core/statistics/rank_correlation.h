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

} // namespace qs::core
