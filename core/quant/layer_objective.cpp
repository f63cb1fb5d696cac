// SPDX-License-Identifier: MIT
#include "quant/layer_objective.h"

#include "statistics/linear_stats.h"
#include "base/error.h"

#include <string>

namespace qs::core {

double layerOutputError(const float* w, const float* q, std::int64_t rows, std::int64_t cols,
                        const Eigen::MatrixXd& xtx) {
    double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) {
        Eigen::VectorXd e(cols);
        for (std::int64_t c = 0; c < cols; ++c)
            e[c] = static_cast<double>(w[r * cols + c]) - static_cast<double>(q[r * cols + c]);
        total += e.dot(xtx * e);
    }
    return total;
}

const Eigen::MatrixXd& requireXtx(const LinearInputStats* input, std::int64_t cols, const char* method) {
    if (!input || input->xtx.size() == 0)
        throw Error(std::string(method) + " needs calibration statistics (X^T X of the layer input): pass --calib");
    if (input->xtx.rows() != cols || input->xtx.cols() != cols)
        throw Error(std::string(method) + ": calibration statistics of '" + input->site + "' have " +
                    std::to_string(input->xtx.rows()) + " features, the weight has " + std::to_string(cols) +
                    " input columns");
    return input->xtx;
}

RowObjective::RowObjective(const Eigen::MatrixXd& h, const double* err, std::int64_t cols)
    : m_h(h), m_e(Eigen::Map<const Eigen::VectorXd>(err, cols)) {
    m_he = m_h * m_e;
    m_value = m_e.dot(m_he);
}

double RowObjective::delta(std::int64_t c0, std::int64_t n, const double* newErr) const {
    // e' = e + d with d on the run: e'He' - eHe = 2 d.(He)_run + d H_run,run d.
    const Eigen::Map<const Eigen::VectorXd> ne(newErr, n);
    const Eigen::VectorXd d = ne - m_e.segment(c0, n);
    return 2.0 * d.dot(m_he.segment(c0, n)) + d.dot(m_h.block(c0, c0, n, n) * d);
}

void RowObjective::commit(std::int64_t c0, std::int64_t n, const double* newErr) {
    const double change = delta(c0, n, newErr);
    const Eigen::Map<const Eigen::VectorXd> ne(newErr, n);
    const Eigen::VectorXd d = ne - m_e.segment(c0, n);
    m_he.noalias() += m_h.middleCols(c0, n) * d;
    m_e.segment(c0, n) = ne;
    m_value += change;
}

} // namespace qs::core
