// SPDX-License-Identifier: MIT
// Per-group sensitivity (every decision group x candidate format, measured on the sensitivity set),
// cheap proxies beside it, and CLADO's pairwise interaction terms (../shared/specs/analysis.md 1.1, 6).
#pragma once
#include "analysis/candidate_formats.h"
#include "analysis/decision_groups.h"
#include "analysis/prefix_evaluator.h"
#include "data/calib_data.h"
#include "quant/method_registries.h"

#include <Eigen/Core>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace qs::core {

struct SensitivityOptions {
    std::vector<CandidateFormat> candidates;
    GroupMode grouping = GroupMode::Fused;
    bool pairs = false;    ///< measure CLADO's pairwise terms
    int pairDistance = 0;  ///< > 0: only pairs of groups at most this many decoder layers apart (others 0)
    int farPairSample = 0; ///< with pairDistance: also this many random farther pairs (seeded), to estimate the rest
    bool gradientScore = true; ///< ModelOpt's output-gradient score (one backward pass)
    int hawqProbes = 4;    ///< Rademacher probes (exact Hessian-vector products) for the Hessian-trace score; 0 skips it
    std::uint64_t seed = 1;
    bool prefixCache = true;
    /// compute bf16: the evaluations (reference and candidates) run their products on bf16 operands
    /// with float32 sums (ForwardHooks::bf16Products). The quantizers' calibration, the local errors,
    /// and the gradient and HAWQ scores stay float32, as quantizing a model does. Whole model only.
    bool bf16Products = false;
    /// Quantized weights kept for reuse up to this many bytes (all candidates of all groups); past
    /// it, data-free candidates are quantized again at each use (results are the same).
    std::size_t weightCacheBytes = std::size_t(4) << 30;
    /// One decoder layer in memory at a time (models larger than memory): every evaluation's residual
    /// stream advances through each loaded layer together, from the layer it changes; the same numbers
    /// as the whole-model measurement. No gradient or HAWQ score (they need the whole model's backward
    /// pass): asked for, they are left out with a note.
    bool layerMajor = false;
    /// Layer-major: the evaluations' residual streams held at once, in bytes; more evaluations than
    /// fit run in several passes over the layers.
    std::size_t streamBytes = std::size_t(4) << 30;
};

/// Per decision group g and candidate c ([g][c]); the interaction matrix over i = g * C + c.
struct SensitivityResult {
    std::vector<DecisionGroup> groups;
    std::vector<std::string> candidates; ///< candidate texts, in the order given
    PerturbedScores reference;           ///< the float32 model on the sensitivity set
    std::int64_t scoredTokens = 0;
    /// Measured with only group g at candidate c: mean NLL minus the reference's, mean KL, top-1 agreement.
    std::vector<std::vector<double>> deltaLoss, kld, top1;
    /// Local objective tr(dW H dW^T) / tokens, H = X^T X of the group's inputs on the sensitivity set.
    std::vector<std::vector<double>> localError;
    /// HAWQ's score tr(H_gg) / n_g * ||dW||^2 (tr(H_gg) of the global loss by Hutchinson with exact
    /// Hessian-vector products); empty when not asked.
    std::vector<std::vector<double>> hawqScore;
    std::vector<double> hessianTrace; ///< per group: the estimated tr(H_gg) (empty when not asked)
    /// ModelOpt auto_quantize's gradient score Σ (∂L/∂Y)²·(ΔY)² over the outputs Y of the group's
    /// Linears on the sensitivity set, ΔY = X·ΔWᵀ; empty when not asked.
    std::vector<std::vector<double>> gradientScore;
    /// Bits per weight of the group's weights at candidate c (scales and zero points included).
    std::vector<std::vector<double>> bitsPerWeight;
    /// CLADO's c_gh(b, b') = L(g at b, h at b') - L(g at b) - L(h at b') + L0 (symmetric, zero within a
    /// group and for pairs not measured); 0 x 0 without pairs.
    Eigen::MatrixXd interaction;
    /// The same decomposition of the mean KL (label-free, and less noisy on a small set).
    Eigen::MatrixXd interactionKld;
    long long pairsMeasured = 0;
    /// With a pair distance: group pairs beyond it that were sampled and measured, those left at 0, and
    /// the sampled terms' mean and largest |c| (KL and loss). A plan's prediction leaves out one term per
    /// unmeasured group pair, so unmeasured x mean |c| estimates what it misses.
    long long farPairsSampled = 0, farPairsUnmeasured = 0;
    double farMeanAbsKld = 0, farMaxAbsKld = 0, farMeanAbsLoss = 0;
    long long evaluations = 0, layerRuns = 0, layerRunsWithoutCache = 0;
    bool layerMajor = false;        ///< measured one decoder layer at a time
    int passes = 1;                 ///< layer-major: passes over the layers
    std::size_t peakWeightBytes = 0; ///< the most float32 weight bytes held at once
    std::vector<std::string> notes; ///< what was asked but left out, and why
    double seconds = 0;         ///< whole analysis
    double evaluateSeconds = 0; ///< in forward evaluations

    std::size_t index(std::size_t group, std::size_t candidate) const { return group * candidates.size() + candidate; }
    /// Spearman's rho of each proxy against the measured change of loss and KL, over every (group,
    /// candidate) that is not "keep": {"local_error": {"delta_loss": r, "kld": r}, "hawq": {...}, "gradient": {...}}.
    nlohmann::json correlations() const;
    /// Everything above as JSON (the interaction matrix summarised: its size, the largest |c| and the
    /// pair count; the full matrix goes to the HDF5 arrays).
    nlohmann::json toJson() const;
};

/// tr(E H Eᵀ) for the error E = `delta` of weight `w` (stored layout: [out, in], or [in, out] for GPT-2
/// Conv1D) and the input Gram matrix H = XᵀX [in, in]: GPTQ's layer-local objective, the same bits at
/// any thread count.
double localObjective(const std::vector<float>& delta, const WeightInfo& w, const Eigen::MatrixXd& xtx);

/// The input rows of a Linear as float64, [tokens, in_features] row-major.
using InputRows = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// The same objective from the inputs X [tokens, in] themselves: Σ over X's rows x of ‖E x‖², which is
/// tr(E XᵀX Eᵀ). It costs 2·tokens·in·out flops against the Gram form's 2·in²·out: the cheaper one when
/// the set holds fewer tokens than the Linear has inputs. The same bits at any thread count.
double localObjective(const std::vector<float>& delta, const WeightInfo& w, const InputRows& inputs);

/// Measures sensitivities of `model` on the windows of `set` (the sensitivity set), the whole model
/// in memory or (options.layerMajor) one decoder layer at a time. Progress per evaluation (layer-major:
/// per layer), cancellable. Deterministic: the same inputs and seed give bit-identical figures at any
/// thread count. Throws Error for unusable inputs (no candidates, an empty set, a method the model
/// cannot run), Cancelled.
SensitivityResult measureSensitivity(const Model& model, const CalibrationData& set,
                                     const MethodRegistries& registries, const SensitivityOptions& options,
                                     const JobContext& job);

} // namespace qs::core
