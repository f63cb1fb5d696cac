// SPDX-License-Identifier: MIT
// The quality predictor's learners (XGBoost) against closed forms: the ridge model equals
// (ZᵀZ + λnI)⁻¹Zᵀ(y − ȳ) on standardised features, a forest splits a step function at the step, one
// unsampled deep tree interpolates its training set, a pure-noise feature gets about no permutation
// importance, and the out-of-fold helpers equal their brute-force definitions.
#include "analysis/quality_prediction.h"
#include "statistics/regressor.h"

#include <Eigen/Dense>
#include <gtest/gtest.h>

#include <random>

using namespace qs::core;

namespace {

Eigen::MatrixXd randomMatrix(Eigen::Index n, Eigen::Index p, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> g;
    Eigen::MatrixXd x(n, p);
    for (Eigen::Index i = 0; i < n; ++i)
        for (Eigen::Index j = 0; j < p; ++j) x(i, j) = g(rng) * (j + 1) + j;
    return x;
}

} // namespace

TEST(Regressor, RidgeEqualsTheClosedFormOnStandardisedFeatures) {
    const Eigen::Index n = 40, p = 3;
    const Eigen::MatrixXd x = randomMatrix(n, p, 3);
    std::mt19937 rng(4);
    std::normal_distribution<double> g;
    Eigen::VectorXd y(n);
    for (Eigen::Index i = 0; i < n; ++i) y(i) = 0.5 + 2 * x(i, 0) - 0.7 * x(i, 1) + 0.1 * x(i, 2) + 0.3 * g(rng);
    for (double lambda : {0.0, 0.1, 1.0}) {
        RegressorOptions o;
        o.kind = "linear";
        o.lambda = lambda;
        const Regressor r = Regressor::fit(x, y, o);
        // Independent closed form: XGBoost's penalty is normalised to the number of examples.
        const Eigen::RowVectorXd mean = x.colwise().mean();
        const Eigen::MatrixXd centred = x.rowwise() - mean;
        const Eigen::RowVectorXd scale = (centred.array().square().colwise().mean()).sqrt();
        const Eigen::MatrixXd z = centred.array().rowwise() / scale.array();
        const Eigen::VectorXd ws = (z.transpose() * z + lambda * n * Eigen::MatrixXd::Identity(p, p))
                                       .ldlt()
                                       .solve(z.transpose() * (y.array() - y.mean()).matrix());
        const Eigen::VectorXd w = ws.array() / scale.transpose().array();
        for (Eigen::Index j = 0; j < p; ++j) EXPECT_NEAR(r.coefficients()(j), w(j), 2e-3 * (1 + std::abs(w(j)))) << lambda;
        EXPECT_NEAR(r.intercept(), y.mean() - mean.dot(w), 2e-3 * (1 + std::abs(y.mean()))) << lambda;
        EXPECT_LE((r.predict(x) - (x * w).array().matrix() - Eigen::VectorXd::Constant(n, y.mean() - mean.dot(w))).cwiseAbs().maxCoeff(), 1e-2);
    }
}

TEST(Regressor, AForestSplitsAStepFunctionAtTheStep) {
    const Eigen::Index n = 60;
    Eigen::MatrixXd x(n, 1);
    Eigen::VectorXd y(n);
    for (Eigen::Index i = 0; i < n; ++i) {
        x(i, 0) = (i + 0.5) / n;
        y(i) = x(i, 0) < 0.5 ? 1.0 : 3.0;
    }
    RegressorOptions o;
    o.featureShare = 1.0;
    const Regressor r = Regressor::fit(x, y, o);
    Eigen::MatrixXd probe(4, 1);
    probe << 0.1, 0.45, 0.55, 0.9;
    const Eigen::VectorXd p = r.predict(probe);
    EXPECT_NEAR(p(0), 1.0, 1e-5);
    EXPECT_NEAR(p(1), 1.0, 0.05);
    EXPECT_NEAR(p(2), 3.0, 0.05);
    EXPECT_NEAR(p(3), 3.0, 1e-5);
}

TEST(Regressor, OneUnsampledDeepTreeInterpolatesItsTrainingSet) {
    const Eigen::MatrixXd x = randomMatrix(25, 3, 9);
    Eigen::VectorXd y = x.col(0).array().sin() + x.col(1).array().square();
    RegressorOptions o;
    o.trees = 1;
    o.rowSample = 1.0;
    o.featureShare = 1.0;
    o.minLeaf = 0;
    o.maxDepth = 30;
    const Regressor r = Regressor::fit(x, y, o);
    EXPECT_LE((r.predict(x) - y).cwiseAbs().maxCoeff(), 1e-5);
}

TEST(Regressor, APureNoiseFeatureHasAboutNoPermutationImportanceAndFitsAreSeeded) {
    const Eigen::MatrixXd x = randomMatrix(80, 2, 11);
    const Eigen::VectorXd y = 3 * x.col(0);
    RegressorOptions o;
    o.featureShare = 1.0;
    const Regressor r = Regressor::fit(x, y, o);
    const Eigen::VectorXd imp = permutationImportance(r, x, y, 5, 1);
    EXPECT_GT(imp(0), 1.0);
    EXPECT_LT(std::abs(imp(1)), 0.05 * imp(0));
    const Regressor again = Regressor::fit(x, y, o);
    EXPECT_EQ(r.predict(x), again.predict(x));
}

TEST(Regressor, OutOfFoldHelpersFollowTheirDefinitions) {
    Eigen::VectorXd y(5);
    y << 1, 2, 4, 8, 16;
    const Eigen::VectorXd loo = outOfFoldMean(y, {"0", "1", "2", "3", "4"});
    for (Eigen::Index i = 0; i < 5; ++i) EXPECT_DOUBLE_EQ(loo(i), (31 - y(i)) / 4);
    const Eigen::VectorXd lofo = outOfFoldMean(y, {"a", "a", "b", "b", "b"});
    EXPECT_DOUBLE_EQ(lofo(0), 28.0 / 3);
    EXPECT_DOUBLE_EQ(lofo(4), 1.5);
    // A linear target is predicted out of fold by the linear model almost exactly.
    Eigen::MatrixXd x(5, 1);
    x << 0, 1, 2, 3, 4;
    RegressorOptions o;
    o.kind = "linear";
    o.lambda = 0;
    const Eigen::VectorXd p = outOfFoldPredictions(x, 2 * x.col(0), {"0", "1", "2", "3", "4"}, o);
    EXPECT_LE((p - 2 * x.col(0)).cwiseAbs().maxCoeff(), 1e-3);
}
