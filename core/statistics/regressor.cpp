// SPDX-License-Identifier: MIT
#include "statistics/regressor.h"

#include "base/error.h"

#include <cmath>
#include <string>
#include <xgboost/c_api.h>

namespace qs::core {
namespace {

void check(int rc, const char* what) {
    if (rc != 0) throw Error(std::string("regression (XGBoost) ") + what + ": " + XGBGetLastError());
}

// A DMatrix of X (float32, as XGBoost keeps features) with optional labels; freed on scope exit.
struct Matrix {
    DMatrixHandle handle = nullptr;
    Matrix(const Eigen::MatrixXd& x, const Eigen::VectorXd* y) {
        const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> xf = x.cast<float>();
        check(XGDMatrixCreateFromMat_omp(xf.data(), static_cast<bst_ulong>(x.rows()), static_cast<bst_ulong>(x.cols()),
                                         NAN, &handle, 1),
              "matrix");
        if (y) {
            const Eigen::VectorXf yf = y->cast<float>();
            check(XGDMatrixSetFloatInfo(handle, "label", yf.data(), static_cast<bst_ulong>(yf.size())), "labels");
        }
    }
    ~Matrix() { XGDMatrixFree(handle); }
    Matrix(const Matrix&) = delete;
    Matrix& operator=(const Matrix&) = delete;
};

std::string number(double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

} // namespace

struct Regressor::Booster {
    BoosterHandle handle = nullptr;
    ~Booster() { XGBoosterFree(handle); }
};

Regressor::Regressor(Regressor&&) noexcept = default;
Regressor& Regressor::operator=(Regressor&&) noexcept = default;
Regressor::~Regressor() = default;

Regressor Regressor::fit(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, const RegressorOptions& o) {
    if (x.rows() != y.size()) throw Error("regression: " + std::to_string(x.rows()) + " rows but " +
                                          std::to_string(y.size()) + " targets");
    if (x.rows() < 2 || x.cols() < 1) throw Error("regression: needs at least 2 examples and 1 feature");
    if (!x.allFinite() || !y.allFinite()) throw Error("regression: a feature or target is not finite");
    if (o.kind != "forest" && o.kind != "linear")
        throw Error("regression: unknown learner '" + o.kind + "' (forest or linear)");
    Regressor r;
    r.m_linear = o.kind == "linear";
    Eigen::MatrixXd xs = x;
    if (r.m_linear) { // standardised, so one penalty treats every feature alike
        r.m_mean = x.colwise().mean().transpose();
        r.m_scale = ((x.rowwise() - r.m_mean.transpose()).array().square().colwise().mean()).sqrt().transpose();
        for (Eigen::Index j = 0; j < r.m_scale.size(); ++j)
            if (!(r.m_scale(j) > 0)) r.m_scale(j) = 1;
        xs = (x.rowwise() - r.m_mean.transpose()).array().rowwise() / r.m_scale.transpose().array();
    }
    r.m_baseScore = y.mean();
    const Matrix train(xs, &y);
    r.m_booster = std::make_unique<Booster>();
    check(XGBoosterCreate(&train.handle, 1, &r.m_booster->handle), "booster");
    auto set = [&](const char* key, const std::string& value) {
        check(XGBoosterSetParam(r.m_booster->handle, key, value.c_str()), key);
    };
    set("nthread", "1");
    set("seed", std::to_string(o.seed));
    set("objective", "reg:squarederror");
    set("base_score", number(r.m_baseScore));
    set("verbosity", "0");
    int rounds = 1;
    if (r.m_linear) {
        set("booster", "gblinear");
        set("updater", "coord_descent");
        set("feature_selector", "cyclic");
        set("lambda", number(o.lambda));
        set("alpha", "0");
        set("eta", "1");
        rounds = o.rounds;
    } else {
        set("booster", "gbtree");
        set("tree_method", "exact");
        set("num_parallel_tree", std::to_string(o.trees));
        set("subsample", number(o.rowSample));
        set("colsample_bynode", number(o.featureShare));
        set("eta", "1");
        set("lambda", "0");
        set("max_depth", std::to_string(o.maxDepth));
        set("min_child_weight", number(o.minLeaf));
    }
    for (int it = 0; it < rounds; ++it) check(XGBoosterUpdateOneIter(r.m_booster->handle, it, train.handle), "training");
    if (r.m_linear) { // read the model back: f(0) and f(e_j) - f(0) on the standardised scale
        const Eigen::Index p = x.cols();
        Eigen::MatrixXd probe = Eigen::MatrixXd::Zero(p + 1, p);
        for (Eigen::Index j = 0; j < p; ++j) probe(j + 1, j) = 1;
        const Matrix m(probe, nullptr);
        bst_ulong len = 0;
        const float* out = nullptr;
        check(XGBoosterPredict(r.m_booster->handle, m.handle, 0, 0, 0, &len, &out), "prediction");
        Eigen::VectorXd w(p);
        for (Eigen::Index j = 0; j < p; ++j) w(j) = double(out[j + 1]) - double(out[0]);
        r.m_coefficients = w.array() / r.m_scale.array();
        r.m_intercept = double(out[0]) - r.m_coefficients.dot(r.m_mean);
    }
    return r;
}

Eigen::VectorXd Regressor::predict(const Eigen::MatrixXd& x) const {
    if (m_linear) return (x * m_coefficients).array() + m_intercept;
    const Matrix m(x, nullptr);
    bst_ulong len = 0;
    const float* out = nullptr;
    check(XGBoosterPredict(m_booster->handle, m.handle, 0, 0, 0, &len, &out), "prediction");
    Eigen::VectorXd y(static_cast<Eigen::Index>(len));
    for (bst_ulong i = 0; i < len; ++i) y(static_cast<Eigen::Index>(i)) = out[i];
    return y;
}

} // namespace qs::core
