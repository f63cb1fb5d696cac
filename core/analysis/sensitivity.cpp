// SPDX-License-Identifier: MIT
#include "analysis/sensitivity.h"

#include "analysis/sensitivity_parts.h"
#include "base/error.h"
#include "eval/window_scores.h"
#include "nn/hessian_estimates.h"
#include "statistics/rank_correlation.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <random>

namespace qs::core {
namespace {

using namespace sensitivity_parts;
using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One weight set from several cached ones (a pair's two groups).
WeightSet merged(const WeightSet& a, const WeightSet& b) {
    WeightSet out = a;
    for (const auto& [name, values] : b) out[name] = values;
    return out;
}

class Measurement {
public:
    Measurement(const Model& model, const CalibrationData& set, const MethodRegistries& registries,
                const SensitivityOptions& options, const JobContext& job)
        : m_model(model), m_options(options), m_job(job), m_quiet{{}, job.cancel}, m_lm(model, {}, m_quiet),
          m_evaluated(evaluationModel(m_lm, options.bf16Products)), m_quantizer(model, registries, options, m_quiet) {
        if (options.candidates.empty()) throw Error("sensitivity: no candidate formats");
        if (set.windows.empty()) throw Error("sensitivity: the sensitivity set holds no window");
        r = emptyResult(decisionGroups(model, m_lm, options.grouping), options);
        const std::size_t G = r.groups.size(), C = r.candidates.size();
        m_weights.assign(G * C, {});
        if (options.pairs) m_pairs = choosePairs(r, options);
        for (const auto& w : set.windows) m_windows.emplace_back(w);
        m_total = static_cast<long long>(G * (1 + C) + std::size_t(std::max(0, options.hawqProbes)) +
                                         (options.gradientScore ? 1 : 0)) +
                  (options.pairs ? pairCount() : 0);
        m_evaluator = std::make_unique<PrefixEvaluator>(
            model, m_evaluated, set.windows, PrefixEvaluator::Options{options.prefixCache, 512u << 20}, m_quiet);
        r.reference = m_evaluator->reference();
        r.scoredTokens = m_evaluator->scoredTokens();
    }

    SensitivityResult run() {
        const auto start = Clock::now();
        quantizeAll();
        singles();
        if (m_options.gradientScore) gradientScores();
        if (m_options.hawqProbes > 0) hawq();
        if (m_options.pairs) pairs();
        r.evaluations = m_evaluator->evaluations();
        r.layerRuns = m_evaluator->layerRuns();
        r.layerRunsWithoutCache = m_evaluator->layerRunsWithoutCache();
        r.peakWeightBytes = m_lm.peakWeightBytes();
        r.seconds = secondsSince(start);
        m_job.step(m_total, m_total, "done");
        return std::move(r);
    }

private:
    long long pairCount() const {
        const auto quantized = static_cast<long long>(m_quantizer.quantizedCandidates());
        return static_cast<long long>(m_pairs.pairs.size()) * quantized * quantized;
    }
    void step(const std::string& what) { m_job.step(m_done++, m_total, what); }
    PerturbedScores evaluate(WeightSet weights) {
        const auto t = Clock::now();
        const PerturbedScores s = m_evaluator->evaluate(std::move(weights), m_quiet);
        r.evaluateSeconds += secondsSince(t);
        return s;
    }

    // Every group at every candidate, with the local objective from the group's inputs on the set.
    void quantizeAll() {
        std::int64_t params = 0;
        for (const auto& g : r.groups) params += g.params;
        // Data-free candidates are quantized again at each use when keeping them all would pass the
        // limit (a 7B model at three candidates: 84 GB); calibrated ones need their statistics, so stay.
        m_cacheAll = m_quantizer.calibrated() ||
                     double(m_quantizer.quantizedCandidates()) * double(params) * sizeof(float) <=
                         double(m_options.weightCacheBytes);
        // The calibration's layer inputs are the float32 model's: the evaluator's reference streams, or
        // (bf16 evaluations) streams of the float32 model run alongside, one layer at a time.
        std::vector<RowMatrixF> float32Inputs;
        if (m_options.bf16Products) float32Inputs = embedWindows(m_lm, m_windows, m_quiet);
        for (int l = 0; l < m_lm.numLayers(); ++l) {
            if (m_options.bf16Products && l > 0) runLayerOnStreams(m_lm, l - 1, float32Inputs, m_quiet);
            m_quantizer.enterLayer(m_lm, l, m_options.bf16Products ? float32Inputs : m_evaluator->layerInputs(l));
            for (std::size_t g = 0; g < r.groups.size(); ++g) {
                if (r.groups[g].layer != l) continue;
                step("quantizing " + r.groups[g].name);
                for (std::size_t c = 0; c < r.candidates.size(); ++c) {
                    WeightSet q = m_quantizer.quantizeWithProxies(r, g, c);
                    if (m_cacheAll) m_weights[r.index(g, c)] = std::move(q);
                }
            }
        }
    }

    // Group g's weights at candidate c (stored layout): cached, or quantized again (data-free only).
    WeightSet weights(std::size_t g, std::size_t c) {
        return m_cacheAll ? m_weights[r.index(g, c)] : m_quantizer.quantize(r.groups[g], c);
    }

    void singles() {
        const double l0 = r.reference.nll;
        for (std::size_t g = 0; g < r.groups.size(); ++g)
            for (std::size_t c = 0; c < r.candidates.size(); ++c) {
                step("single " + r.groups[g].name + " at " + r.candidates[c]);
                if (m_options.candidates[c].keep) continue; // exactly the reference: nothing replaced
                const PerturbedScores s = evaluate(weights(g, c));
                r.deltaLoss[g][c] = s.nll - l0;
                r.kld[g][c] = s.kld;
                r.top1[g][c] = s.top1;
            }
    }

    // ModelOpt auto_quantize's gradient score (analysis.md 1.5): Σ (∂L/∂Y)²·(ΔY)² over every output
    // element of the group's Linears, ΔY = X·ΔWᵀ the change candidate c makes to Y (a Taylor expansion
    // in the output with the Fisher diagonal for the Hessian). One backward pass of the float model;
    // each Linear's input and output gradient meet each candidate's ΔW there.
    void gradientScores() {
        GradientScorer scorer(r, m_model, m_options, [&](std::size_t g, std::size_t c) { return weights(g, c); });
        GradOptions o;
        o.linearObserver = [&](const std::string& name, const float* x, std::int64_t rows, std::int64_t in,
                               const float* dy, std::int64_t out) { scorer.add(name, x, rows, in, dy, out); };
        step("gradient score (one backward pass)");
        lossGradient(m_lm, m_windows, 1, o, m_quiet);
    }

    // HAWQ's tr(H_gg) by Hutchinson with exact Hessian-vector products (forward-over-reverse,
    // nn/hessian_estimates.h): each probe is one Rademacher vector over every group's weights, and
    // z_gᵀ(Hz)_g estimates each group's trace (cross-group terms have mean 0).
    void hawq() {
        const std::size_t C = r.candidates.size();
        WeightBlocks blocks;
        for (std::size_t g = 0; g < r.groups.size(); ++g) {
            blocks.labels.push_back(r.groups[g].name);
            for (const std::string& name : r.groups[g].weights) blocks.blockOfWeight[name] = static_cast<int>(g);
        }
        const long long base = m_done;
        const JobContext probes{[&](long long done, long long, const std::string& what) { m_job.step(base + done, m_total, what); },
                                m_job.cancel};
        const std::vector<BlockEstimate> traces =
            hutchinsonTraces(m_lm, m_windows, 1, blocks, m_options.hawqProbes, m_options.seed, {}, probes);
        m_done = base + m_options.hawqProbes;
        r.hessianTrace.assign(r.groups.size(), 0.0);
        r.hawqScore.assign(r.groups.size(), std::vector<double>(C, 0.0));
        for (std::size_t g = 0; g < r.groups.size(); ++g) {
            r.hessianTrace[g] = traces[g].value;
            for (std::size_t c = 0; c < C; ++c)
                r.hawqScore[g][c] = r.hessianTrace[g] / double(r.groups[g].params) * m_quantizer.sqNorm(g, c);
        }
    }

    void pairs() {
        const std::size_t C = r.candidates.size();
        PairRecorder recorder(r);
        for (std::size_t k = 0; k < m_pairs.pairs.size(); ++k) {
            const auto [g, h] = m_pairs.pairs[k];
            for (std::size_t c = 0; c < C; ++c)
                for (std::size_t d = 0; d < C; ++d) {
                    if (m_options.candidates[c].keep || m_options.candidates[d].keep) continue; // exactly 0
                    step("pair " + r.groups[g].name + " x " + r.groups[h].name);
                    recorder.record(g, c, h, d, evaluate(merged(weights(g, c), weights(h, d))), k >= m_pairs.farFrom);
                }
        }
        recorder.finish();
    }

    const Model& m_model;
    const SensitivityOptions& m_options;
    const JobContext& m_job;
    const JobContext m_quiet;
    const CausalLm m_lm;        // float32: calibration, gradient and HAWQ scores
    const CausalLm m_evaluated; // the evaluations' model: m_lm's weights, with bf16 products when asked
    GroupQuantizer m_quantizer;
    std::vector<std::span<const std::int32_t>> m_windows; // the sensitivity set
    std::unique_ptr<PrefixEvaluator> m_evaluator;
    PairPlan m_pairs;
    std::vector<WeightSet> m_weights; // [g * C + c]: the group's quantized weights (stored layout)
    bool m_cacheAll = true;
    long long m_done = 0, m_total = 0;
    SensitivityResult r;
};

std::vector<double> flatWithoutKeep(const SensitivityResult& r, const std::vector<std::vector<double>>& table) {
    std::vector<double> out;
    for (std::size_t g = 0; g < table.size(); ++g)
        for (std::size_t c = 0; c < table[g].size(); ++c)
            if (r.candidates[c] != "keep") out.push_back(table[g][c]);
    return out;
}

nlohmann::json finiteOrNull(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

} // namespace

namespace {

using Rows = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The error E [out, in] as float64, from a weight stored as [out, in] or as [in, out] (GPT-2 Conv1D).
InputRows errorOutIn(const std::vector<float>& delta, const WeightInfo& w) {
    const Eigen::Index out = w.matrixRows(), in = w.matrixCols();
    return w.transposed ? InputRows(Eigen::Map<const Rows>(delta.data(), in, out).cast<double>().transpose())
                        : InputRows(Eigen::Map<const Rows>(delta.data(), out, in).cast<double>());
}

// Σ over E's rows r of rowTerms(r0, n)[r - r0], E's rows in blocks of 64, each block's terms one matrix
// product. Blocks run in parallel, each product on its own thread (Eigen runs single-threaded inside a
// parallel region, its blocking fixed by the cache sizes), and the rows are summed in order: the same
// bits at any thread count.
template <class RowTerms>
double sumOverRowBlocks(Eigen::Index out, const RowTerms& rowTerms) {
    constexpr Eigen::Index kBlock = 64;
    const Eigen::Index blocks = (out + kBlock - 1) / kBlock;
    std::vector<double> perRow(static_cast<std::size_t>(out), 0.0);
#pragma omp parallel for schedule(static)
    for (Eigen::Index b = 0; b < blocks; ++b) {
        const Eigen::Index r0 = b * kBlock, n = std::min(kBlock, out - r0);
        rowTerms(r0, n, perRow.data() + r0);
    }
    double sum = 0;
    for (double v : perRow) sum += v;
    return sum;
}

} // namespace

// tr(E H E^T) = sum over the rows e of E of e H e^T, each block's E_b H one product (H = XᵀX is
// symmetric), so H is streamed once per block at the product's speed (row by row it was memory-bound:
// 65% of a 1B model's analysis).
double localObjective(const std::vector<float>& delta, const WeightInfo& w, const Eigen::MatrixXd& xtx) {
    const InputRows e = errorOutIn(delta, w);
    return sumOverRowBlocks(e.rows(), [&](Eigen::Index r0, Eigen::Index n, double* terms) {
        InputRows y(n, e.cols());
        y.noalias() = e.middleRows(r0, n) * xtx;
        for (Eigen::Index r = 0; r < n; ++r) terms[r] = e.row(r0 + r).dot(y.row(r));
    });
}

// Σ_x ‖E x‖² = sum over the rows e of E of ‖X eᵀ‖², each block's X E_bᵀ one product.
double localObjective(const std::vector<float>& delta, const WeightInfo& w, const InputRows& inputs) {
    const InputRows e = errorOutIn(delta, w);
    return sumOverRowBlocks(e.rows(), [&](Eigen::Index r0, Eigen::Index n, double* terms) {
        Eigen::MatrixXd y(inputs.rows(), n);
        y.noalias() = inputs * e.middleRows(r0, n).transpose();
        for (Eigen::Index r = 0; r < n; ++r) terms[r] = y.col(r).squaredNorm();
    });
}

nlohmann::json SensitivityResult::correlations() const {
    nlohmann::json j = nlohmann::json::object();
    const auto add = [&](const std::string& key, const std::vector<std::vector<double>>& proxy) {
        if (proxy.empty()) return;
        const std::vector<double> p = flatWithoutKeep(*this, proxy);
        j[key] = {{"delta_loss", finiteOrNull(spearmanRho(p, flatWithoutKeep(*this, deltaLoss)))},
                  {"kld", finiteOrNull(spearmanRho(p, flatWithoutKeep(*this, kld)))}};
    };
    add("local_error", localError);
    add("hawq", hawqScore);
    add("gradient", gradientScore);
    return j;
}

nlohmann::json SensitivityResult::toJson() const {
    nlohmann::json groupsJson = nlohmann::json::array();
    for (std::size_t g = 0; g < groups.size(); ++g) {
        nlohmann::json cands = nlohmann::json::array();
        for (std::size_t c = 0; c < candidates.size(); ++c) {
            nlohmann::json row = {{"format", candidates[c]},
                                  {"bits_per_weight", bitsPerWeight[g][c]},
                                  {"delta_loss", deltaLoss[g][c]},
                                  {"kld", kld[g][c]},
                                  {"top1", top1[g][c]},
                                  {"local_error", localError[g][c]}};
            if (!hawqScore.empty()) row["hawq"] = hawqScore[g][c];
            if (!gradientScore.empty()) row["gradient"] = gradientScore[g][c];
            cands.push_back(std::move(row));
        }
        nlohmann::json gj = {{"name", groups[g].name}, {"layer", groups[g].layer}, {"params", groups[g].params},
                             {"weights", groups[g].weights}, {"candidates", std::move(cands)}};
        if (!hessianTrace.empty()) gj["hessian_trace"] = hessianTrace[g];
        groupsJson.push_back(std::move(gj));
    }
    nlohmann::json j = {{"reference", {{"nll", reference.nll}, {"perplexity", std::exp(reference.nll)}}},
                        {"scored_tokens", scoredTokens},
                        {"candidates", candidates},
                        {"groups", std::move(groupsJson)},
                        {"correlations", correlations()},
                        {"evaluations", evaluations},
                        {"layer_runs", layerRuns},
                        {"layer_runs_without_cache", layerRunsWithoutCache},
                        {"seconds", seconds},
                        {"evaluate_seconds", evaluateSeconds},
                        {"layer_major", layerMajor},
                        {"passes", passes},
                        {"peak_weight_bytes", peakWeightBytes}};
    if (!notes.empty()) j["notes"] = notes;
    if (interaction.size() > 0)
        j["interaction"] = {{"size", interaction.rows()},
                            {"pairs_measured", pairsMeasured},
                            {"max_abs", interaction.cwiseAbs().maxCoeff()},
                            {"far_pairs_sampled", farPairsSampled},
                            {"far_pairs_unmeasured", farPairsUnmeasured},
                            {"far_mean_abs_kld", farMeanAbsKld},
                            {"far_max_abs_kld", farMaxAbsKld},
                            {"far_mean_abs_loss", farMeanAbsLoss},
                            {"unmeasured_error_estimate_kld", farMeanAbsKld * double(farPairsUnmeasured)}};
    return j;
}

SensitivityResult measureSensitivity(const Model& model, const CalibrationData& set,
                                     const MethodRegistries& registries, const SensitivityOptions& options,
                                     const JobContext& job) {
    if (options.layerMajor && options.bf16Products)
        throw Error("sensitivity: compute bf16 runs with the whole model in memory; low_memory (one layer at a "
                    "time) is float32 only");
    if (options.layerMajor) return sensitivity_parts::measureLayerMajor(model, set, registries, options, job);
    return Measurement(model, set, registries, options, job).run();
}

} // namespace qs::core
