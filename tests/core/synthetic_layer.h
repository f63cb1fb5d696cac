// SPDX-License-Identifier: MIT
// A random Linear with random calibration inputs, and its statistics built the plain way (test-only reference).
#pragma once
#include "statistics/linear_stats.h"

#include <Eigen/Core>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace qs::test {

struct SyntheticLayer {
    std::int64_t rows = 0, cols = 0;
    std::vector<float> w;  ///< [rows, cols]
    Eigen::MatrixXd x;     ///< [tokens, cols]
    core::LinearInputStats stats;

    /// ||(W - Q) X^T||_F^2 straight from the tokens (independent of the quantizers' XtX code path).
    double outputError(const float* q) const {
        Eigen::MatrixXd e(rows, cols);
        for (std::int64_t r = 0; r < rows; ++r)
            for (std::int64_t c = 0; c < cols; ++c) e(r, c) = double(w[r * cols + c]) - double(q[r * cols + c]);
        return (e * x.transpose()).squaredNorm();
    }
};

/// Correlated inputs (a random mixing of Gaussian factors) with per-channel magnitudes `channelScale`
/// (empty: all 1); weights ~ N(0, 0.05^2) with a few larger entries.
inline SyntheticLayer makeLayer(std::int64_t rows, std::int64_t cols, std::int64_t tokens, unsigned seed,
                                const std::vector<double>& channelScale = {}) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> n01(0.0, 1.0);
    SyntheticLayer l;
    l.rows = rows;
    l.cols = cols;
    l.w.resize(rows * cols);
    for (auto& v : l.w) v = static_cast<float>(0.05 * n01(rng) * (rng() % 50 == 0 ? 4.0 : 1.0));
    const std::int64_t factors = cols / 2;
    Eigen::MatrixXd z(tokens, factors), mix(factors, cols);
    for (std::int64_t i = 0; i < z.size(); ++i) z.data()[i] = n01(rng);
    for (std::int64_t i = 0; i < mix.size(); ++i) mix.data()[i] = n01(rng) / std::sqrt(double(factors));
    l.x = z * mix;
    for (std::int64_t t = 0; t < tokens; ++t)
        for (std::int64_t c = 0; c < cols; ++c) l.x(t, c) += 0.3 * n01(rng);
    if (!channelScale.empty())
        for (std::int64_t c = 0; c < cols; ++c) l.x.col(c) *= channelScale[c];
    auto& s = l.stats;
    s.site = "synthetic";
    s.features = cols;
    s.samples = tokens;
    s.xtx = l.x.transpose() * l.x;
    s.absMax.resize(cols);
    s.absMean.resize(cols);
    s.mean.resize(cols);
    s.variance.resize(cols);
    s.kurtosis.assign(cols, 0.0);
    for (std::int64_t c = 0; c < cols; ++c) {
        const auto col = l.x.col(c);
        s.absMax[c] = col.cwiseAbs().maxCoeff();
        s.absMean[c] = col.cwiseAbs().mean();
        s.mean[c] = col.mean();
        s.variance[c] = (col.array() - s.mean[c]).square().mean();
    }
    return l;
}

} // namespace qs::test
