// SPDX-License-Identifier: MIT
// What the two sensitivity measurements share (sensitivity.cpp holds every weight and starts each
// evaluation from the prefix cache; sensitivity_layer_major.cpp holds one decoder layer and advances
// every evaluation through it together): the result's tables, the pairs to measure, quantizing a group
// at a candidate with its proxies, and recording a pair's interaction terms.
#pragma once
#include "analysis/sensitivity.h"
#include "quant/model_quantizer.h"

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace qs::core::sensitivity_parts {

using WeightSet = std::map<std::string, std::vector<float>>;

/// The result's groups and candidates, every table zero (top-1 one), interaction matrices zero when
/// pairs are asked.
SensitivityResult emptyResult(std::vector<DecisionGroup> groups, const SensitivityOptions& options);

/// The group pairs to measure: every near one (options.pairDistance), then a seeded sample of the
/// farther ones; sets r.farPairsSampled and r.farPairsUnmeasured.
struct PairPlan {
    std::vector<std::pair<std::size_t, std::size_t>> pairs; ///< (g, h), g < h, near ones first
    std::size_t farFrom = 0;                                ///< index of the first sampled far pair
};
PairPlan choosePairs(SensitivityResult& r, const SensitivityOptions& options);

/// Quantizes decision groups at each candidate and records their proxies in the result: the local
/// objective tr(dW H dWᵀ)/tokens from the group's inputs, the bits per weight, and ‖dW‖² (HAWQ's).
class GroupQuantizer {
public:
    GroupQuantizer(const Model& model, const MethodRegistries& registries, const SensitivityOptions& options,
                   const JobContext& quiet);
    GroupQuantizer(const GroupQuantizer&) = delete; // the quantizers' callbacks hold `this`
    GroupQuantizer& operator=(const GroupQuantizer&) = delete;
    /// Whether a candidate needs its layer's input statistics to quantize (GPTQ, AWQ, ...).
    bool calibrated() const { return m_calibrated; }
    std::size_t quantizedCandidates() const;
    /// Takes decoder layer `layer`'s input statistics from the float32 residual stream entering it
    /// (one matrix per window); the layer must be loaded in `lm`. Where a site has more inputs than the
    /// windows have tokens, its inputs themselves are kept for the local objective, and XᵀX is collected
    /// only when a calibrated candidate or another site needs it.
    void enterLayer(const CausalLm& lm, int layer, const std::vector<RowMatrixF>& inputs);
    /// Group g (of the entered layer) at candidate c: its weights (stored layout; empty for keep), and
    /// the proxies written into r.localError, r.bitsPerWeight and sqNorm(g, c).
    WeightSet quantizeWithProxies(SensitivityResult& r, std::size_t g, std::size_t c);
    /// The same weights again (a calibrated candidate uses the entered layer's statistics, which must
    /// be the group's layer's).
    WeightSet quantize(const DecisionGroup& group, std::size_t c);
    /// ‖dW‖² of group g at candidate c (after quantizeWithProxies).
    double sqNorm(std::size_t g, std::size_t c) const { return m_sqNorm.at(g).at(c); }

private:
    const Model& m_model;
    std::vector<std::unique_ptr<ModelQuantizer>> m_quantizers; // per candidate, null for keep
    std::map<std::string, double> m_bits;                     // weight -> bits per weight (last quantized)
    std::map<std::string, const WeightInfo*> m_info;
    const JobContext m_quiet;
    std::map<std::string, LinearInputStats> m_siteStats; // the entered layer's input statistics, by site
    // The entered layer's inputs themselves, for the sites with more inputs than the set has tokens:
    // their local objective is cheaper from X than from XᵀX (localObjective).
    std::map<std::string, InputRows> m_siteInputs;
    std::map<std::string, std::string> m_siteOf;         // weight -> its input site
    std::vector<std::vector<double>> m_sqNorm;
    bool m_calibrated = false;
};

/// ModelOpt auto_quantize's gradient score (analysis.md 1.5), one Linear's batch at a time: the
/// backward pass's linearObserver hands over the Linear's input x [rows, in] and output gradient dy
/// [rows, out], and add() puts Σ (dy · X·ΔWᵀ)² for each candidate c of the Linear's group into
/// r.gradientScore[g][c] (ΔW = the group's weights at c minus the float32 ones, from `candidate`).
class GradientScorer {
public:
    using Candidate = std::function<WeightSet(std::size_t g, std::size_t c)>;
    GradientScorer(SensitivityResult& r, const Model& model, const SensitivityOptions& options, Candidate candidate);
    /// The observer's call for weight `name` (other weights than the groups' are ignored).
    void add(const std::string& name, const float* x, std::int64_t rows, std::int64_t in, const float* dy,
             std::int64_t out);

private:
    SensitivityResult& r;
    const Model& m_model;
    const SensitivityOptions& m_options;
    Candidate m_candidate;
    std::map<std::string, std::size_t> m_groupOf;
};

/// Records measured pairs into a result: the interaction terms of loss and KL (symmetric, from the
/// singles already in it), the pair count, and the sampled far pairs' mean and largest |c|.
class PairRecorder {
public:
    explicit PairRecorder(SensitivityResult& r) : r(r) {}
    /// The pair (g at c, h at d) measured with scores s; `far`: one of the sampled far pairs.
    void record(std::size_t g, std::size_t c, std::size_t h, std::size_t d, const PerturbedScores& s, bool far);
    /// Turns the far pairs' sums into means.
    void finish();

private:
    SensitivityResult& r;
    long long m_farTerms = 0;
};

/// measureSensitivity with options.layerMajor (sensitivity_layer_major.cpp).
SensitivityResult measureLayerMajor(const Model& model, const CalibrationData& set, const MethodRegistries& registries,
                                    const SensitivityOptions& options, const JobContext& job);

} // namespace qs::core::sensitivity_parts
