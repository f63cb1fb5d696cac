// SPDX-License-Identifier: MIT
#pragma once
// Predicting a quantized model's quality before evaluating it (after Xu et al. 2024, "Scaling laws for
// post-training quantized LLMs"): features of a recipe on a model — its format and method, the RTN
// error of its format (SQNR, error energy), the loss's exact slope and curvature along that error
// (g·v, vᵀHv and their second-order estimate g·v + ½vᵀHv), the weights' and the error's kurtosis,
// per-layer Hessian traces times the error energy (HAWQ) — and learners fitted on the project's evaluated runs: a random forest (the
// paper's) and a ridge-regularised linear model beside it, validated leave-one-out and
// leave-one-format-out against predicting the mean.
#include "analysis/analysis.h"
#include "nn/causal_lm.h"
#include "quant/recipe.h"
#include "statistics/regressor.h"

#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace qs::core {

/// Features of recipes on one model. The model-level quantities (per-layer Hessian traces) are
/// computed once, by the constructor.
class QualityFeaturizer {
public:
    /// `windows` (may be empty: no curvature features) are the data the loss is taken on;
    /// `traceSamples` Hutchinson probes per layer (0: no HAWQ feature). Throws Error; Cancelled.
    QualityFeaturizer(const Model& model, const MethodRegistries& registries,
                      std::vector<std::vector<std::int32_t>> windows, int traceSamples, std::uint64_t seed,
                      const JobContext& job);
    ~QualityFeaturizer();

    /// The recipe's features by name. Calibrated methods are described by their method and the RTN
    /// error of their formats (no calibration is run). Throws Error for a recipe that quantizes no
    /// weights or changes the model's basis.
    std::map<std::string, double> features(const Recipe& recipe, const JobContext& job) const;
    /// The recipe's format group for leave-one-format-out ("int4", "mxfp4", "mixed").
    static std::string formatGroup(const Recipe& recipe);

private:
    const Model& m_model;
    const MethodRegistries& m_registries;
    std::unique_ptr<CausalLm> m_lm;
    std::vector<std::vector<std::int32_t>> m_windows;
    std::map<int, double> m_tracePerWeight; ///< decoder layer -> tr(H_ll) / parameters
};

/// Out-of-fold predictions: for every group of rows (rows with the same `groups` entry), a model
/// fitted on the other rows predicts them. Leave-one-out: every row its own group. Rows whose group
/// holds every row get the training mean. Returns the predictions in row order.
Eigen::VectorXd outOfFoldPredictions(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                     const std::vector<std::string>& groups, const RegressorOptions& options);

/// The same for the baseline that predicts the mean of the other rows.
Eigen::VectorXd outOfFoldMean(const Eigen::VectorXd& y, const std::vector<std::string>& groups);

/// Permutation importance: the mean absolute error's increase when column j is shuffled (seeded),
/// averaged over `repeats` shuffles, for a fitted model on (x, y).
Eigen::VectorXd permutationImportance(const Regressor& model, const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                      int repeats, std::uint64_t seed);

/// "predict". Parameters: training (JSON text: [{"recipe": {...}, "target": number, "label": text}],
/// the evaluated runs), candidates (JSON text: [recipe, ...], to rank), target (its name), trees,
/// lambda, trace_samples, curvature (use the set's windows for g·v and vᵀHv), seed. Arrays: features
/// [training x features], importance [features x 2] (forest, linear).
class PredictAnalysis : public Analysis {
public:
    std::string_view name() const override { return "predict"; }
    std::string_view summary() const override {
        return "predicts recipes' quality from landscape and weight features (random forest, ridge)";
    }
    const ParamSchema& params() const override;
    /// 2: the weights' and the error's kurtosis among the features.
    int revision() const override { return 2; }
    AnalysisOutput run(const AnalysisInput& input, const nlohmann::json& params, const JobContext& job) const override;
};

} // namespace qs::core
