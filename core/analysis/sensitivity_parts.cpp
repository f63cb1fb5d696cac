// SPDX-License-Identifier: MIT
#include "analysis/sensitivity_parts.h"

#include "model/weight_layout.h"
#include "calib/collect_stats.h"
#include "tensor/gemm.h"
#include "tensor/dtype.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace qs::core::sensitivity_parts {
namespace {

double squaredNorm(const std::vector<float>& v) {
    double s = 0;
    for (float x : v) s += double(x) * double(x);
    return s;
}

} // namespace

SensitivityResult emptyResult(std::vector<DecisionGroup> groups, const SensitivityOptions& options) {
    SensitivityResult r;
    r.groups = std::move(groups);
    for (const auto& c : options.candidates) r.candidates.push_back(c.text);
    const std::size_t G = r.groups.size(), C = r.candidates.size();
    const auto table = [&](double v) { return std::vector<std::vector<double>>(G, std::vector<double>(C, v)); };
    r.deltaLoss = r.kld = r.localError = r.bitsPerWeight = table(0.0);
    r.top1 = table(1.0);
    if (options.pairs) {
        r.interaction = Eigen::MatrixXd::Zero(Eigen::Index(G * C), Eigen::Index(G * C));
        r.interactionKld = r.interaction;
    }
    return r;
}

PairPlan choosePairs(SensitivityResult& r, const SensitivityOptions& options) {
    const auto near = [&](std::size_t g, std::size_t h) {
        return options.pairDistance <= 0 || std::abs(r.groups[g].layer - r.groups[h].layer) <= options.pairDistance;
    };
    PairPlan plan;
    std::vector<std::pair<std::size_t, std::size_t>> far;
    for (std::size_t g = 0; g < r.groups.size(); ++g)
        for (std::size_t h = g + 1; h < r.groups.size(); ++h) (near(g, h) ? plan.pairs : far).emplace_back(g, h);
    std::mt19937_64 rng(options.seed ^ 0xC1AD0ull);
    for (std::size_t k = far.size(); k > 1; --k) std::swap(far[k - 1], far[rng() % k]); // Fisher-Yates
    const std::size_t take = std::min(far.size(), std::size_t(std::max(0, options.farPairSample)));
    plan.farFrom = plan.pairs.size();
    plan.pairs.insert(plan.pairs.end(), far.begin(), far.begin() + std::ptrdiff_t(take));
    r.farPairsSampled = static_cast<long long>(take);
    r.farPairsUnmeasured = static_cast<long long>(far.size() - take);
    return plan;
}

GroupQuantizer::GroupQuantizer(const Model& model, const MethodRegistries& registries,
                               const SensitivityOptions& options, const JobContext& quiet)
    : m_model(model), m_quiet(quiet) {
    for (const WeightInfo& w : model.weights()) m_info[w.name] = &w;
    m_quantizers.resize(options.candidates.size());
    for (std::size_t c = 0; c < options.candidates.size(); ++c) {
        if (options.candidates[c].keep) continue;
        m_quantizers[c] = std::make_unique<ModelQuantizer>(
            model, registries, options.candidates[c].job, quiet, nullptr,
            [this](const LayerQuantResult& q) { m_bits[q.name] = q.bitsPerWeight; });
        m_calibrated = m_calibrated || m_quantizers[c]->calibrated();
    }
}

std::size_t GroupQuantizer::quantizedCandidates() const {
    return std::size_t(std::count_if(m_quantizers.begin(), m_quantizers.end(), [](const auto& q) { return q != nullptr; }));
}

void GroupQuantizer::enterLayer(const CausalLm& lm, int layer, const std::vector<RowMatrixF>& inputs) {
    m_siteStats.clear();
    m_siteOf.clear();
    m_siteInputs.clear();
    std::int64_t tokens = 0;
    for (const RowMatrixF& x : inputs) tokens += x.rows();
    bool gram = m_calibrated;
    for (const LinearInputSite& site : lm.layerSites(layer)) {
        for (const std::string& w : site.weights) m_siteOf[w] = site.name;
        const std::int64_t features = m_info.at(site.weights.front())->matrixCols();
        if (tokens < features)
            m_siteInputs[site.name] = InputRows(tokens, features);
        else
            gram = true;
    }
    for (LinearInputStats& s : collectLayerStats(lm, layer, inputs, gram, m_quiet)) {
        const std::string site = s.site;
        m_siteStats.emplace(site, std::move(s));
    }
    if (m_siteInputs.empty()) return;
    // The kept sites' inputs, window after window (the layer run again: a small part of the objectives' cost).
    std::int64_t row = 0;
    const LinearInputObserver keep = [&](int, const LinearInputSite& site, const RowMatrixF& x) {
        const auto it = m_siteInputs.find(site.name);
        if (it != m_siteInputs.end()) it->second.middleRows(row, x.rows()) = x.cast<double>();
    };
    for (const RowMatrixF& input : inputs) {
        RowMatrixF x = input;
        lm.runLayer(layer, x, &keep);
        row += input.rows();
    }
}

WeightSet GroupQuantizer::quantizeWithProxies(SensitivityResult& r, std::size_t g, std::size_t c) {
    if (m_sqNorm.size() != r.groups.size())
        m_sqNorm.assign(r.groups.size(), std::vector<double>(r.candidates.size(), 0.0));
    const DecisionGroup& group = r.groups[g];
    WeightSet out;
    double groupBits = 0;
    for (const std::string& name : group.weights) {
        const WeightInfo& w = *m_info.at(name);
        const double n = double(numel(w.shape));
        if (!m_quantizers[c]) { // keep: the stored weights at their stored width
            groupBits += n * 8.0 * double(dtypeSize(w.dtype));
            continue;
        }
        const LinearInputStats& input = m_siteStats.at(m_siteOf.at(name));
        std::vector<float> q = m_quantizers[c]->quantizeWeight(w, m_quantizers[c]->calibrated() ? &input : nullptr, name);
        const std::vector<float> original = m_model.weight(name).toFloats();
        std::vector<float> delta(q.size());
        for (std::size_t i = 0; i < q.size(); ++i) delta[i] = q[i] - original[i];
        const auto kept = m_siteInputs.find(m_siteOf.at(name));
        r.localError[g][c] += (kept != m_siteInputs.end() ? localObjective(delta, w, kept->second)
                                                          : localObjective(delta, w, input.xtx)) /
                              double(input.samples);
        m_sqNorm[g][c] += squaredNorm(delta);
        groupBits += n * m_bits.at(name);
        out[name] = std::move(q);
    }
    r.bitsPerWeight[g][c] = groupBits / double(group.params);
    return out;
}

WeightSet GroupQuantizer::quantize(const DecisionGroup& group, std::size_t c) {
    WeightSet out;
    if (!m_quantizers[c]) return out;
    const bool calibrated = m_quantizers[c]->calibrated();
    for (const std::string& name : group.weights)
        out[name] = m_quantizers[c]->quantizeWeight(
            *m_info.at(name), calibrated ? &m_siteStats.at(m_siteOf.at(name)) : nullptr, name);
    return out;
}

void PairRecorder::record(std::size_t g, std::size_t c, std::size_t h, std::size_t d, const PerturbedScores& s,
                          bool far) {
    const auto i = Eigen::Index(r.index(g, c)), j = Eigen::Index(r.index(h, d));
    r.interaction(i, j) = r.interaction(j, i) = s.nll - r.reference.nll - r.deltaLoss[g][c] - r.deltaLoss[h][d];
    r.interactionKld(i, j) = r.interactionKld(j, i) = s.kld - r.kld[g][c] - r.kld[h][d];
    ++r.pairsMeasured;
    if (!far) return;
    ++m_farTerms; // a sampled far pair: what the unmeasured ones may hold
    r.farMeanAbsKld += std::abs(r.interactionKld(i, j));
    r.farMaxAbsKld = std::max(r.farMaxAbsKld, std::abs(r.interactionKld(i, j)));
    r.farMeanAbsLoss += std::abs(r.interaction(i, j));
}

void PairRecorder::finish() {
    if (!m_farTerms) return;
    r.farMeanAbsKld /= double(m_farTerms);
    r.farMeanAbsLoss /= double(m_farTerms);
}


GradientScorer::GradientScorer(SensitivityResult& r, const Model& model, const SensitivityOptions& options,
                               Candidate candidate)
    : r(r), m_model(model), m_options(options), m_candidate(std::move(candidate)) {
    r.gradientScore.assign(r.groups.size(), std::vector<double>(r.candidates.size(), 0.0));
    for (std::size_t g = 0; g < r.groups.size(); ++g)
        for (const std::string& name : r.groups[g].weights) m_groupOf[name] = g;
}

void GradientScorer::add(const std::string& name, const float* x, std::int64_t rows, std::int64_t in, const float* dy,
                         std::int64_t out) {
    const auto it = m_groupOf.find(name);
    if (it == m_groupOf.end()) return;
    const std::size_t g = it->second;
    const WeightInfo& info = *m_model.find(name);
    const std::vector<float> original = m_model.weightAsOutIn(info);
    RowMatrixF deltaY(rows, out);
    for (std::size_t c = 0; c < r.candidates.size(); ++c) {
        if (m_options.candidates[c].keep) continue;
        const WeightSet q = m_candidate(g, c);
        const std::vector<float>& stored = q.at(name);
        std::vector<float> delta = outInFromStored(info, stored);
        for (std::size_t i = 0; i < delta.size(); ++i) delta[i] -= original[i];
        gemmNT({x, rows, in, in}, {delta.data(), out, in, in}, {deltaY.data(), rows, out, out});
        double sum = 0;
        for (std::int64_t i = 0; i < rows * out; ++i) {
            const double a = double(dy[i]) * double(deltaY.data()[i]);
            sum += a * a;
        }
        r.gradientScore[g][c] += sum;
    }
}

} // namespace qs::core::sensitivity_parts
