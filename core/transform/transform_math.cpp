// SPDX-License-Identifier: MIT
#include "transform/transform_math.h"

#include "quant/fake_quant.h"
#include "base/error.h"

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>

namespace qs::core {

std::vector<float> smoothQuantScales(const std::vector<double>& actAbsMax, const std::vector<double>& weightAbsMax,
                                     double alpha) {
    if (actAbsMax.size() != weightAbsMax.size())
        throw Error("smoothquant: " + std::to_string(actAbsMax.size()) + " activation channels but " +
                    std::to_string(weightAbsMax.size()) + " weight columns");
    std::vector<float> s(actAbsMax.size(), 1.0f);
    for (std::size_t j = 0; j < s.size(); ++j) {
        const double a = actAbsMax[j], w = weightAbsMax[j];
        if (!(a > 0) || !(w > 0) || !std::isfinite(a) || !std::isfinite(w)) continue;
        const double v = std::pow(a, alpha) / std::pow(w, 1.0 - alpha);
        s[j] = static_cast<float>(std::clamp(v, 1e-5, 1e5));
    }
    return s;
}

void columnAbsMax(const std::vector<float>& w, std::int64_t rows, std::int64_t cols, std::vector<double>& colMax) {
    colMax.resize(static_cast<std::size_t>(cols), 0.0);
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c)
            colMax[static_cast<std::size_t>(c)] =
                std::max(colMax[static_cast<std::size_t>(c)], static_cast<double>(std::abs(w[r * cols + c])));
}

void scaleColumns(std::vector<float>& w, std::int64_t rows, std::int64_t cols, const std::vector<float>& s) {
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c) w[r * cols + c] *= s[static_cast<std::size_t>(c)];
}

void scaleRows(std::vector<float>& w, std::int64_t rows, std::int64_t cols, const std::vector<float>& s) {
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c) w[r * cols + c] *= s[static_cast<std::size_t>(r)];
}

Eigen::MatrixXd principalBasis(const Eigen::MatrixXd& symmetric, Eigen::VectorXd* eigenvalues) {
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(symmetric);
    if (eig.info() != Eigen::Success) throw Error("PCA: the eigen decomposition did not converge");
    // Eigen sorts increasingly; the principal directions come first here.
    const Eigen::MatrixXd basis = eig.eigenvectors().rowwise().reverse();
    if (eigenvalues) *eigenvalues = eig.eigenvalues().reverse();
    return basis;
}

void fakeQuantizeSplit(float* x, std::int64_t rows, std::int64_t cols, std::int64_t high, const QuantSpec& highSpec,
                       const QuantSpec& lowSpec) {
    high = std::clamp<std::int64_t>(high, 0, cols);
    using M = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<M> all(x, rows, cols);
    // Each part is quantized as its own contiguous matrix, so scales never mix the two subspaces.
    if (high > 0) {
        M part = all.leftCols(high);
        fakeQuantize(part.data(), rows, high, highSpec, part.data());
        all.leftCols(high) = part;
    }
    if (high < cols) {
        M part = all.rightCols(cols - high);
        fakeQuantize(part.data(), rows, cols - high, lowSpec, part.data());
        all.rightCols(cols - high) = part;
    }
}

} // namespace qs::core
