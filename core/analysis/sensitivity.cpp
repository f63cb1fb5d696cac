// SPDX-License-Identifier: MIT
#include "analysis/sensitivity.h"

#include "base/error.h"
#include "calib/collect_stats.h"
#include "nn/hessian_estimates.h"
#include "tensor/gemm.h"
#include "tensor/transpose.h"
#include "quant/quantizer.h"
#include "statistics/rank_correlation.h"
#include "tensor/dtype.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <random>

namespace qs::core {
namespace {

using WeightSet = std::map<std::string, std::vector<float>>;
using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double squaredNorm(const std::vector<float>& v) {
    double s = 0;
    for (float x : v) s += double(x) * double(x);
    return s;
}

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
        : m_model(model), m_registries(registries), m_options(options), m_job(job), m_quiet{{}, job.cancel},
          m_lm(model, {}, m_quiet) {
        if (options.candidates.empty()) throw Error("sensitivity: no candidate formats");
        if (set.windows.empty()) throw Error("sensitivity: the sensitivity set holds no window");
        for (const WeightInfo& w : model.weights()) m_info[w.name] = &w;
        r.groups = decisionGroups(model, m_lm, options.grouping);
        for (const auto& c : options.candidates) r.candidates.push_back(c.text);
        const std::size_t G = r.groups.size(), C = r.candidates.size();
        const auto table = [&] { return std::vector<std::vector<double>>(G, std::vector<double>(C, 0.0)); };
        r.deltaLoss = r.kld = r.localError = r.bitsPerWeight = table();
        r.top1 = std::vector<std::vector<double>>(G, std::vector<double>(C, 1.0));
        m_sqNorm = table();
        m_weights.assign(G * C, {});
        if (options.pairs) choosePairs();
        for (const auto& w : set.windows) m_windows.emplace_back(w);
        m_total = static_cast<long long>(G * (1 + C) + std::size_t(std::max(0, options.hawqProbes)) +
                                         (options.gradientScore ? 1 : 0)) +
                  (options.pairs ? pairCount() : 0);
        m_evaluator = std::make_unique<PrefixEvaluator>(
            model, m_lm, set.windows, PrefixEvaluator::Options{options.prefixCache, 512u << 20}, m_quiet);
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
        r.seconds = secondsSince(start);
        m_job.step(m_total, m_total, "done");
        return std::move(r);
    }

private:
    bool near(std::size_t g, std::size_t h) const {
        return m_options.pairDistance <= 0 || std::abs(r.groups[g].layer - r.groups[h].layer) <= m_options.pairDistance;
    }
    // The group pairs to measure: every near one, then a seeded sample of the farther ones.
    void choosePairs() {
        std::vector<std::pair<std::size_t, std::size_t>> far;
        for (std::size_t g = 0; g < r.groups.size(); ++g)
            for (std::size_t h = g + 1; h < r.groups.size(); ++h) (near(g, h) ? m_pairList : far).emplace_back(g, h);
        std::mt19937_64 rng(m_options.seed ^ 0xC1AD0ull);
        for (std::size_t k = far.size(); k > 1; --k) std::swap(far[k - 1], far[rng() % k]); // Fisher-Yates
        const std::size_t take = std::min(far.size(), std::size_t(std::max(0, m_options.farPairSample)));
        m_farFrom = m_pairList.size();
        m_pairList.insert(m_pairList.end(), far.begin(), far.begin() + std::ptrdiff_t(take));
        r.farPairsSampled = static_cast<long long>(take);
        r.farPairsUnmeasured = static_cast<long long>(far.size() - take);
    }
    long long pairCount() const {
        long long quantized = 0;
        for (const auto& c : m_options.candidates) quantized += c.keep ? 0 : 1;
        return static_cast<long long>(m_pairList.size()) * quantized * quantized;
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
        const std::size_t C = r.candidates.size();
        std::vector<std::unique_ptr<ModelQuantizer>>& quantizers = m_quantizers;
        quantizers.resize(C);
        std::map<std::string, double>& bits = m_bits;
        bool calibrated = false;
        std::int64_t quantizedCandidates = 0, params = 0;
        for (std::size_t c = 0; c < C; ++c)
            if (!m_options.candidates[c].keep) {
                quantizers[c] = std::make_unique<ModelQuantizer>(
                    m_model, m_registries, m_options.candidates[c].job, m_quiet, nullptr,
                    [&bits](const LayerQuantResult& q) { bits[q.name] = q.bitsPerWeight; });
                calibrated = calibrated || quantizers[c]->calibrated();
                ++quantizedCandidates;
            }
        for (const auto& g : r.groups) params += g.params;
        // Data-free candidates are quantized again at each use when keeping them all would pass the
        // limit (a 7B model at three candidates: 84 GB); calibrated ones need their statistics, so stay.
        m_cacheAll = calibrated || double(quantizedCandidates) * double(params) * sizeof(float) <=
                                       double(m_options.weightCacheBytes);
        for (int l = 0; l < m_lm.numLayers(); ++l) {
            std::map<std::string, LinearInputStats> statsOf; // weight -> its input's statistics
            std::map<std::string, std::string> siteOf;
            for (const LinearInputSite& site : m_lm.layerSites(l))
                for (const std::string& w : site.weights) siteOf[w] = site.name;
            std::map<std::string, LinearInputStats> siteStats;
            for (LinearInputStats& s : collectLayerStats(m_lm, l, m_evaluator->layerInputs(l), true, m_quiet))
                siteStats[s.site] = std::move(s);
            for (std::size_t g = 0; g < r.groups.size(); ++g) {
                const DecisionGroup& group = r.groups[g];
                if (group.layer != l) continue;
                step("quantizing " + group.name);
                for (std::size_t c = 0; c < C; ++c) {
                    double groupBits = 0;
                    for (const std::string& name : group.weights) {
                        const WeightInfo& w = *m_info.at(name);
                        const double n = double(numel(w.shape));
                        if (!quantizers[c]) { // keep: the stored weights at their stored width
                            groupBits += n * 8.0 * double(dtypeSize(w.dtype));
                            continue;
                        }
                        const LinearInputStats& input = siteStats.at(siteOf.at(name));
                        std::vector<float> q = quantizers[c]->quantizeWeight(
                            w, quantizers[c]->calibrated() ? &input : nullptr, name);
                        const std::vector<float> original = m_model.weight(name).toFloats();
                        std::vector<float> delta(q.size());
                        for (std::size_t i = 0; i < q.size(); ++i) delta[i] = q[i] - original[i];
                        r.localError[g][c] += localObjective(delta, w, input.xtx) / double(input.samples);
                        m_sqNorm[g][c] += squaredNorm(delta);
                        groupBits += n * bits.at(name);
                        if (m_cacheAll) m_weights[r.index(g, c)][name] = std::move(q);
                    }
                    r.bitsPerWeight[g][c] = groupBits / double(group.params);
                }
            }
        }
    }

    // Group g's weights at candidate c (stored layout): cached, or quantized again (data-free only).
    WeightSet weights(std::size_t g, std::size_t c) {
        if (m_cacheAll) return m_weights[r.index(g, c)];
        WeightSet out;
        for (const std::string& name : r.groups[g].weights)
            out[name] = m_quantizers[c]->quantizeWeight(*m_info.at(name), nullptr, name);
        return out;
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
        const std::size_t C = r.candidates.size();
        r.gradientScore.assign(r.groups.size(), std::vector<double>(C, 0.0));
        std::map<std::string, std::size_t> groupOf;
        for (std::size_t g = 0; g < r.groups.size(); ++g)
            for (const std::string& name : r.groups[g].weights) groupOf[name] = g;
        GradOptions o;
        o.linearObserver = [&](const std::string& name, const float* x, std::int64_t rows, std::int64_t in,
                               const float* dy, std::int64_t out) {
            const auto it = groupOf.find(name);
            if (it == groupOf.end()) return;
            const std::size_t g = it->second;
            const WeightInfo& info = *m_info.at(name);
            const std::vector<float> original = m_model.weightAsOutIn(info);
            RowMatrixF deltaY(rows, out);
            for (std::size_t c = 0; c < C; ++c) {
                if (m_options.candidates[c].keep) continue;
                const WeightSet q = weights(g, c);
                std::vector<float> delta = outIn(q.at(name), info);
                for (std::size_t i = 0; i < delta.size(); ++i) delta[i] -= original[i];
                gemmNT({x, rows, in, in}, {delta.data(), out, in, in}, {deltaY.data(), rows, out, out});
                double sum = 0;
                for (std::int64_t i = 0; i < rows * out; ++i) {
                    const double a = double(dy[i]) * double(deltaY.data()[i]);
                    sum += a * a;
                }
                r.gradientScore[g][c] += sum;
            }
        };
        step("gradient score (one backward pass)");
        lossGradient(m_lm, m_windows, 1, o, m_quiet);
    }

    // A stored-layout weight as [out, in] (GPT-2 Conv1D is stored [in, out]).
    static std::vector<float> outIn(const std::vector<float>& stored, const WeightInfo& info) {
        return info.transposed ? transposeMatrix(stored, info.matrixCols(), info.matrixRows()) : stored;
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
                r.hawqScore[g][c] = r.hessianTrace[g] / double(r.groups[g].params) * m_sqNorm[g][c];
        }
    }

    void pairs() {
        const std::size_t G = r.groups.size(), C = r.candidates.size();
        r.interaction = Eigen::MatrixXd::Zero(Eigen::Index(G * C), Eigen::Index(G * C));
        r.interactionKld = r.interaction;
        const double l0 = r.reference.nll;
        long long farTerms = 0;
        for (std::size_t k = 0; k < m_pairList.size(); ++k) {
            const auto [g, h] = m_pairList[k];
            {
                for (std::size_t c = 0; c < C; ++c)
                    for (std::size_t d = 0; d < C; ++d) {
                        if (m_options.candidates[c].keep || m_options.candidates[d].keep) continue; // exactly 0
                        step("pair " + r.groups[g].name + " x " + r.groups[h].name);
                        const PerturbedScores s = evaluate(merged(weights(g, c), weights(h, d)));
                        const auto i = Eigen::Index(r.index(g, c)), j = Eigen::Index(r.index(h, d));
                        r.interaction(i, j) = r.interaction(j, i) = s.nll - l0 - r.deltaLoss[g][c] - r.deltaLoss[h][d];
                        r.interactionKld(i, j) = r.interactionKld(j, i) = s.kld - r.kld[g][c] - r.kld[h][d];
                        ++r.pairsMeasured;
                        if (k >= m_farFrom) { // a sampled far pair: what the unmeasured ones may hold
                            ++farTerms;
                            r.farMeanAbsKld += std::abs(r.interactionKld(i, j));
                            r.farMaxAbsKld = std::max(r.farMaxAbsKld, std::abs(r.interactionKld(i, j)));
                            r.farMeanAbsLoss += std::abs(r.interaction(i, j));
                        }
                    }
            }
        }
        if (farTerms) {
            r.farMeanAbsKld /= double(farTerms);
            r.farMeanAbsLoss /= double(farTerms);
        }
    }

    const Model& m_model;
    const MethodRegistries& m_registries;
    const SensitivityOptions& m_options;
    const JobContext& m_job;
    const JobContext m_quiet;
    const CausalLm m_lm;
    std::vector<std::span<const std::int32_t>> m_windows; // the sensitivity set
    std::unique_ptr<PrefixEvaluator> m_evaluator;
    std::map<std::string, const WeightInfo*> m_info;
    std::vector<std::pair<std::size_t, std::size_t>> m_pairList; // group pairs to measure, near ones first
    std::size_t m_farFrom = 0;                                  // index of the first sampled far pair
    std::vector<WeightSet> m_weights; // [g * C + c]: the group's quantized weights (stored layout)
    std::vector<std::unique_ptr<ModelQuantizer>> m_quantizers; // per candidate, null for keep
    std::map<std::string, double> m_bits;
    bool m_cacheAll = true;
    std::vector<std::vector<double>> m_sqNorm;
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

// tr(E H E^T) = sum over the rows e of E [out, in] of e H e^T, for a weight stored as [out, in] or as
// [in, out] (GPT-2 Conv1D). Rows go in blocks of 16, so H (in x in) is read once per block rather than
// once per row (row by row it was memory-bound: 65% of a 1B model's analysis); blocks run in parallel,
// each row's dot products in Eigen's fixed order, and the rows are summed in order: the same bits at
// any thread count (Eigen's threaded matrix product chooses its blocking by the thread count).
double localObjective(const std::vector<float>& delta, const WeightInfo& w, const Eigen::MatrixXd& xtx) {
    using Rows = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using RowsD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const Eigen::Index out = w.matrixRows(), in = w.matrixCols();
    const RowsD e = w.transposed ? RowsD(Eigen::Map<const Rows>(delta.data(), in, out).cast<double>().transpose())
                                 : RowsD(Eigen::Map<const Rows>(delta.data(), out, in).cast<double>());
    constexpr Eigen::Index kBlock = 16;
    const Eigen::Index blocks = (out + kBlock - 1) / kBlock;
    std::vector<double> perRow(static_cast<std::size_t>(out), 0.0);
#pragma omp parallel for schedule(static)
    for (Eigen::Index b = 0; b < blocks; ++b) {
        const Eigen::Index r0 = b * kBlock, n = std::min(kBlock, out - r0);
        RowsD y(n, in); // y = E_block H^T, column by column: H's column i is read once for the block
        for (Eigen::Index i = 0; i < in; ++i)
            for (Eigen::Index r = 0; r < n; ++r) y(r, i) = e.row(r0 + r).dot(xtx.col(i).transpose());
        for (Eigen::Index r = 0; r < n; ++r) perRow[std::size_t(r0 + r)] = e.row(r0 + r).dot(y.row(r));
    }
    double sum = 0;
    for (double v : perRow) sum += v;
    return sum;
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
                        {"evaluate_seconds", evaluateSeconds}};
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
    return Measurement(model, set, registries, options, job).run();
}

} // namespace qs::core
