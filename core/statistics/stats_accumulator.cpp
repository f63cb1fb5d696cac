// SPDX-License-Identifier: MIT
#include "statistics/stats_accumulator.h"

#include "base/error.h"

#include <algorithm>
#include <cmath>

namespace qs::core {

LinearStatsAccumulator::LinearStatsAccumulator(std::string site, std::int64_t features, bool withGram)
    : m_site(std::move(site)), m_features(features), m_gram(withGram), m_hist(features) {
    const auto n = static_cast<std::size_t>(features);
    if (m_gram) m_xtx = Eigen::MatrixXd::Zero(features, features);
    for (auto* v : {&m_shift, &m_absMax, &m_absSum, &m_s1, &m_s2, &m_s3, &m_s4}) v->assign(n, 0.0);
}

void LinearStatsAccumulator::add(const float* x, std::int64_t rows, std::int64_t cols) {
    if (cols != m_features)
        throw Error("calibration input of '" + m_site + "' has " + std::to_string(cols) + " features, expected " +
                    std::to_string(m_features));
    if (rows <= 0) return;
    using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const RowMatrixD xd =
        Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(x, rows, cols)
            .cast<double>();
    if (m_gram) m_xtx.selfadjointView<Eigen::Lower>().rankUpdate(xd.transpose());
    if (m_samples == 0) {
        const Eigen::RowVectorXd mean = xd.colwise().mean();
        for (std::int64_t c = 0; c < cols; ++c) m_shift[static_cast<std::size_t>(c)] = mean(c);
    }
    m_hist.addRows(x, rows);
    for (std::int64_t r = 0; r < rows; ++r) {
        const double* row = xd.data() + r * cols;
        for (std::int64_t c = 0; c < cols; ++c) {
            const auto i = static_cast<std::size_t>(c);
            const double a = std::fabs(row[c]);
            m_absMax[i] = std::max(m_absMax[i], a);
            m_absSum[i] += a;
            const double d = row[c] - m_shift[i], d2 = d * d;
            m_s1[i] += d;
            m_s2[i] += d2;
            m_s3[i] += d2 * d;
            m_s4[i] += d2 * d2;
        }
    }
    m_samples += rows;
}

LinearInputStats LinearStatsAccumulator::result() const {
    LinearInputStats s;
    s.site = m_site;
    s.features = m_features;
    s.samples = m_samples;
    if (m_gram) {
        s.xtx = m_xtx.selfadjointView<Eigen::Lower>();
    }
    const auto n = static_cast<std::size_t>(m_features);
    s.absMax = m_absMax;
    s.absMean.assign(n, 0.0);
    s.mean.assign(n, 0.0);
    s.variance.assign(n, 0.0);
    s.kurtosis.assign(n, 0.0);
    const std::size_t levels = LinearInputStats::kAbsPercentileLevels.size();
    s.absPercentiles.assign(n * levels, 0.0);
    for (std::size_t i = 0; i < n; ++i)
        m_hist.percentiles(static_cast<std::int64_t>(i), LinearInputStats::kAbsPercentileLevels, m_absMax[i],
                           s.absPercentiles.data() + i * levels);
    if (m_samples == 0) return s;
    const double inv = 1.0 / static_cast<double>(m_samples);
    for (std::size_t i = 0; i < n; ++i) {
        // Central moments of d = x - shift (the same as those of x) from its raw power sums.
        const double m1 = m_s1[i] * inv, e2 = m_s2[i] * inv, e3 = m_s3[i] * inv, e4 = m_s4[i] * inv;
        const double var = std::max(0.0, e2 - m1 * m1);
        const double mu4 = e4 - 4.0 * m1 * e3 + 6.0 * m1 * m1 * e2 - 3.0 * m1 * m1 * m1 * m1;
        s.absMean[i] = m_absSum[i] * inv;
        s.mean[i] = m_shift[i] + m1;
        s.variance[i] = var;
        // A constant channel has no defined kurtosis; report 0 (Gaussian-like, not an outlier).
        s.kurtosis[i] = var > 0.0 ? std::max(0.0, mu4) / (var * var) - 3.0 : 0.0;
    }
    return s;
}

} // namespace qs::core
