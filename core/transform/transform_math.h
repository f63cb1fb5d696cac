// SPDX-License-Identifier: MIT
#pragma once
#include "quant/quant_spec.h"

#include <Eigen/Core>
#include <cstdint>
#include <vector>

namespace qs::core {

/// SmoothQuant's per input channel factors s_j = max|X_j|^alpha / max|W_j|^(1 - alpha), computed in
/// float64; a channel with a zero (or non-finite) maximum gets s = 1, and s is clamped to
/// [1e-5, 1e5]. The input becomes x / s and the weight W diag(s).
std::vector<float> smoothQuantScales(const std::vector<double>& actAbsMax, const std::vector<double>& weightAbsMax,
                                     double alpha);

/// Per input column max |W[r, c]| of a row-major [rows, cols] weight, maxed into `colMax` (cols long).
void columnAbsMax(const std::vector<float>& w, std::int64_t rows, std::int64_t cols, std::vector<double>& colMax);

/// W <- W diag(s) for a row-major [rows, cols] weight.
void scaleColumns(std::vector<float>& w, std::int64_t rows, std::int64_t cols, const std::vector<float>& s);
/// W <- diag(s) W: row r times s[r].
void scaleRows(std::vector<float>& w, std::int64_t rows, std::int64_t cols, const std::vector<float>& s);

/// Eigenvectors of a symmetric matrix (e.g. a second moment X^T X / n) as columns, sorted by
/// decreasing eigenvalue (Eigen's SelfAdjointEigenSolver, float64); `eigenvalues` gets them in that order.
Eigen::MatrixXd principalBasis(const Eigen::MatrixXd& symmetric, Eigen::VectorXd* eigenvalues = nullptr);

/// Fake-quantizes the first `high` columns of row-major x [rows, cols] with `highSpec` and the rest
/// with `lowSpec`, each part with its own scales (per token for token granularity); in place.
void fakeQuantizeSplit(float* x, std::int64_t rows, std::int64_t cols, std::int64_t high, const QuantSpec& highSpec,
                       const QuantSpec& lowSpec);

} // namespace qs::core
