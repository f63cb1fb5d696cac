// SPDX-License-Identifier: MIT
#pragma once
// Regression learners from XGBoost (Debian's libxgboost): a random forest (CART trees on bootstrap-like
// row samples with m_try = p/3 features per split, the quality-prediction paper's learner) and a
// ridge-regularised linear model (gblinear, coordinate descent, on standardised features). Trained on
// one thread so that the same data and seed give bit-identical models on every machine.
#include <Eigen/Core>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace qs::core {

struct RegressorOptions {
    std::string kind = "forest"; ///< "forest" or "linear"
    int trees = 300;             ///< forest: trees
    int maxDepth = 12;           ///< forest: depth limit
    double minLeaf = 3;          ///< forest: fewest training rows in a leaf (squared loss: hessian = rows)
    double rowSample = 0.632;    ///< forest: share of rows each tree sees (a bootstrap's distinct share)
    double featureShare = 1.0 / 3.0; ///< forest: features tried per split (m_try / p)
    double lambda = 1.0;         ///< linear: L2 penalty on the standardised coefficients
    int rounds = 500;            ///< linear: coordinate-descent rounds
    std::uint64_t seed = 0;
};

/// A fitted model. Rows of X are examples, columns features (any scale; the linear model standardises).
class Regressor {
public:
    /// Fits on X [n, p] and y [n]. Throws Error for n < 2, a size mismatch, a non-finite value or an
    /// XGBoost failure (its message).
    static Regressor fit(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, const RegressorOptions& options);
    Regressor(Regressor&&) noexcept;
    Regressor& operator=(Regressor&&) noexcept;
    ~Regressor();

    /// Predictions for the rows of X [m, p].
    Eigen::VectorXd predict(const Eigen::MatrixXd& x) const;
    /// Linear model: the coefficients on the original feature scale and the intercept (empty for a forest).
    Eigen::VectorXd coefficients() const { return m_coefficients; }
    double intercept() const { return m_intercept; }

private:
    struct Booster;
    Regressor() = default;
    std::unique_ptr<Booster> m_booster;
    Eigen::VectorXd m_mean, m_scale; ///< standardisation of the linear model's features
    Eigen::VectorXd m_coefficients;
    double m_intercept = 0;
    double m_baseScore = 0;
    bool m_linear = false;
};

} // namespace qs::core
