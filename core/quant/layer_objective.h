// SPDX-License-Identifier: MIT
#pragma once
#include <Eigen/Core>
#include <cstdint>
#include <vector>

namespace qs::core {

struct LinearInputStats;

/// The layer output error of a quantized weight: tr(E XtX E^T) = ||(W - Q) X^T||^2 summed over the
/// calibration tokens, E = W - Q row-major [rows, cols], xtx [cols, cols]. Rows run in parallel.
double layerOutputError(const float* w, const float* q, std::int64_t rows, std::int64_t cols,
                        const Eigen::MatrixXd& xtx);

/// The Gram matrix of a Linear's calibration input; throws Error naming `method` when the driver
/// did not provide it (or its size does not match `cols`).
const Eigen::MatrixXd& requireXtx(const LinearInputStats* input, std::int64_t cols, const char* method);

/// The error e^T H e of one row under changes confined to one run of columns at a time: AWQ's clip
/// search and DGQ's multiplier search try candidates for a run and keep the best, so each step is
/// exact for the whole row (cross terms with the other runs included) and never increases the error.
class RowObjective {
public:
    /// `h` is XtX; `err` the row's current error w - q (cols values).
    RowObjective(const Eigen::MatrixXd& h, const double* err, std::int64_t cols);
    /// Change of e^T H e if columns [c0, c0+n) get the error `newErr` instead.
    double delta(std::int64_t c0, std::int64_t n, const double* newErr) const;
    /// Makes the change permanent.
    void commit(std::int64_t c0, std::int64_t n, const double* newErr);
    /// Current e^T H e.
    double value() const { return m_value; }

private:
    const Eigen::MatrixXd& m_h;
    Eigen::VectorXd m_e, m_he; ///< error and H e, kept in step
    double m_value = 0;
};

} // namespace qs::core
