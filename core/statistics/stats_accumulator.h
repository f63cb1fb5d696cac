// SPDX-License-Identifier: MIT
#pragma once
#include "statistics/abs_histogram.h"
#include "statistics/linear_stats.h"

#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <vector>

namespace qs::core {

/// Accumulates LinearInputStats of one Linear input over batches of rows [tokens, features] without
/// keeping them: X^T X as float64 rank-k updates, and per channel max |x|, sum |x| and the sums of the
/// first four powers of (x - shift) in float64. The shift is the first batch's channel mean, which keeps
/// the power sums from cancelling when a channel's mean is large against its spread. Percentiles of |x|
/// come from a per-channel AbsHistogram (about 5.6 KB per channel).
class LinearStatsAccumulator {
public:
    /// `withGram` = false skips X^T X (features^2 memory and the O(tokens * features^2) work).
    LinearStatsAccumulator(std::string site, std::int64_t features, bool withGram = true);

    /// Adds `rows` tokens, row-major [rows, features]. Throws Error for a width mismatch.
    void add(const float* x, std::int64_t rows, std::int64_t cols);
    /// Adds every row of a row-major matrix.
    void add(const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>& x) {
        add(x.data(), x.rows(), x.cols());
    }
    /// Tokens added so far.
    std::int64_t samples() const { return m_samples; }
    /// The statistics so far (xtx made symmetric, moments from the power sums; zeros before any data).
    LinearInputStats result() const;

private:
    std::string m_site;
    std::int64_t m_features;
    bool m_gram;
    std::int64_t m_samples = 0;
    Eigen::MatrixXd m_xtx; ///< lower triangle accumulated
    std::vector<double> m_shift, m_absMax, m_absSum, m_s1, m_s2, m_s3, m_s4;
    AbsHistogram m_hist;
};

} // namespace qs::core
