// SPDX-License-Identifier: MIT
#include "analysis/misalignment.h"

#include "analysis/candidate_formats.h"
#include "analysis/prefix_evaluator.h"
#include "analysis/sensitivity.h"
#include "base/error.h"
#include "calib/collect_stats.h"
#include "eval/window_scores.h"
#include "statistics/rank_correlation.h"
#include "tensor/transpose.h"

#include <chrono>
#include <cmath>
#include <random>

namespace qs::core {
namespace {

struct Variant {
    std::string method;
    std::string label;
    nlohmann::json params = nlohmann::json::object(); ///< the method's, over its defaults
    std::optional<ScaleRule> scaleRule;
    double percentile = 99.9;
};

// The family of quantizations of one format the analysis compares.
std::vector<Variant> family() {
    return {{"rtn", "rtn", {}, ScaleRule::MinMax},
            {"rtn", "rtn p99.9 clip", {}, ScaleRule::Percentile, 99.9},
            {"rtn", "rtn p99 clip", {}, ScaleRule::Percentile, 99.0},
            {"rtn", "rtn mse clip", {}, ScaleRule::Mse},
            {"gptq", "gptq", {}},
            {"gptq", "gptq damp 0.1", {{"damp", 0.1}}},
            {"gptq", "gptq damp 1", {{"damp", 1.0}}},
            {"gptq", "gptq act-order", {{"act_order", true}}},
            {"gptq", "gptq block 16", {{"block", 16}}},
            {"awq", "awq", {}}};
}

std::string weightName(std::string name) {
    return name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0 ? name : name + ".weight";
}

nlohmann::json correlations(const std::vector<double>& local, const std::vector<double>& dLoss,
                            const std::vector<double>& kld) {
    auto num = [](double v) { return std::isnan(v) ? nlohmann::json() : nlohmann::json(v); };
    return {{"spearman_delta_loss", num(spearmanRho(local, dLoss))},
            {"spearman_kld", num(spearmanRho(local, kld))},
            {"kendall_delta_loss", num(kendallTau(local, dLoss))},
            {"misranking_delta_loss", num(misrankingRate(local, dLoss))},
            {"candidates", local.size()}};
}

} // namespace

const ParamSchema& MisalignmentAnalysis::params() const {
    static const ParamSchema schema{
        {"layer", ParamType::Text, "", 0, -1, {}, "the weight, e.g. model.layers.1.mlp.down_proj", "Weight"},
        {"formats", ParamType::Text, "int2:group:32:asym,int3:group:32:asym,int4:group:32:asym", 0, -1, {},
         "formats, comma-separated SPECs in the --act-quant syntax: one correlation each", "Formats"},
        {"mixes", ParamType::Int, 6, 0, 10000, {},
         "random element-wise mixes of RTN's and GPTQ's weights per format (graded local errors)", "Mixes"},
        {"seed", ParamType::Int, 0, 0, 1e15, {}, "seed of the mixes", "Seed"},
    };
    return schema;
}

AnalysisOutput MisalignmentAnalysis::run(const AnalysisInput& input, const nlohmann::json& p, const JobContext& job) const {
    const auto start = std::chrono::steady_clock::now();
    if (!input.calibration || input.calibration->windows.empty())
        throw Error("misalignment: the local objective needs calibration data (--calib FILE)");
    if (p.at("layer").get<std::string>().empty()) throw Error("misalignment: give the weight (--layer NAME)");
    const std::string name = weightName(p.at("layer").get<std::string>());
    const WeightInfo* info = input.model.find(name);
    if (!info || info->layerIndex < 0 || info->shape.size() != 2)
        throw Error("misalignment: " + name + " is not a decoder layer's weight matrix of " + input.model.path().string());
    const JobContext quiet{nullptr, job.cancel};
    const CausalLm lm(input.model, {}, quiet);

    // H = XᵀX of the weight's input over the calibration windows (float32 model, as GPTQ sees it).
    job.step(0, 0, "calibration inputs of " + name);
    std::vector<RowMatrixF> inputs;
    for (const auto& w : input.calibration->windows) {
        RowMatrixF x = lm.embed(w);
        for (int l = 0; l < info->layerIndex; ++l) lm.runLayer(l, x);
        inputs.push_back(std::move(x));
    }
    const std::vector<LinearInputStats> stats = collectLayerStats(lm, info->layerIndex, inputs, true, quiet);
    const std::vector<LinearInputSite> sites = lm.layerSites(info->layerIndex);
    const LinearInputStats* site = nullptr;
    for (std::size_t s = 0; s < sites.size(); ++s)
        for (const std::string& w : sites[s].weights)
            if (w == name) site = &stats[s];
    if (!site) throw Error("misalignment: " + name + " is not a Linear the forward pass feeds");
    inputs.clear();

    const std::vector<float> w = input.model.weightAsOutIn(*info);
    const std::int64_t rows = info->matrixRows(), cols = info->matrixCols();
    const WeightMatrix matrix{w.data(), rows, cols, name, site};
    // Candidates are [out, in]; the objective and the forward pass take the stored layout.
    auto stored = [&](const std::vector<float>& q) { return info->transposed ? transposeMatrix(q, rows, cols) : q; };
    const std::vector<float> wStored = stored(w);
    auto local = [&](const std::vector<float>& q) {
        std::vector<float> delta = stored(q);
        for (std::size_t i = 0; i < delta.size(); ++i) delta[i] -= wStored[i];
        return localObjective(delta, *info, site->xtx) / static_cast<double>(std::max<std::int64_t>(1, site->samples));
    };

    std::vector<std::vector<std::int32_t>> windows = input.set.windows;
    PrefixEvaluator evaluator(input.model, lm, std::move(windows), {}, quiet);
    const PerturbedScores reference = evaluator.reference();
    auto global = [&](const std::vector<float>& q) {
        std::map<std::string, std::vector<float>> replaced;
        replaced[name] = stored(q);
        return evaluator.evaluate(std::move(replaced), quiet);
    };

    const std::vector<CandidateFormat> formats =
        parseCandidateFormats(p.at("formats").get<std::string>(), input.registries, "misalignment --formats");
    const int mixes = p.at("mixes").get<int>();
    std::mt19937_64 rng(p.at("seed").get<std::uint64_t>());
    const std::vector<Variant> variants = family();
    const long long total = static_cast<long long>(formats.size()) * (static_cast<long long>(variants.size()) + mixes);
    long long done = 0;
    nlohmann::json candidates = nlohmann::json::array(), perFormat = nlohmann::json::object();
    std::vector<double> allLocal, allLoss, allKld;
    Eigen::MatrixXd scores(total, 3);
    for (const CandidateFormat& f : formats) {
        if (f.keep) throw Error("misalignment --formats: keep is not a format");
        const std::string spec = f.text.substr(f.text.find('/') == std::string::npos ? 0 : f.text.find('/') + 1);
        std::vector<double> fl, fd, fk;
        std::vector<float> rtn, gptq;
        auto record = [&](const std::string& method, const std::string& label, const std::vector<float>& q) {
            job.step(done, total, spec + ": " + label);
            const double l = local(q);
            const PerturbedScores s = global(q);
            scores.row(done) << l, s.nll - reference.nll, s.kld;
            ++done;
            fl.push_back(l), fd.push_back(s.nll - reference.nll), fk.push_back(s.kld);
            candidates.push_back({{"format", spec}, {"method", method}, {"label", label}, {"local", l},
                                  {"delta_loss", s.nll - reference.nll}, {"kld", s.kld}, {"top1", s.top1}});
        };
        for (const Variant& v : variants) {
            QuantSpec qs = f.job.spec;
            if (v.scaleRule) qs.scaleRule = *v.scaleRule, qs.percentile = v.percentile;
            const Quantizer& quantizer = input.registries.quantizers.get(v.method, "method");
            const nlohmann::json params = validateParams(quantizer.params(), v.params, v.method);
            std::vector<float> q(w.size());
            quantizer.quantize(matrix, qs, params, q.data(), quiet);
            record(v.method, v.label, q);
            if (v.label == "rtn") rtn = q;
            if (v.label == "gptq") gptq = q;
        }
        // Element-wise mixes: each element from GPTQ with probability (k + 1) / (mixes + 1), else RTN's.
        for (int k = 0; k < mixes; ++k) {
            const double share = double(k + 1) / double(mixes + 1);
            std::vector<float> q(w.size());
            for (std::size_t i = 0; i < q.size(); ++i)
                q[i] = static_cast<double>(rng() >> 11) * 0x1.0p-53 < share ? gptq[i] : rtn[i];
            char label[48];
            std::snprintf(label, sizeof label, "mix %.0f%% gptq", 100 * share);
            record("mix", label, q);
        }
        perFormat[spec] = correlations(fl, fd, fk);
        allLocal.insert(allLocal.end(), fl.begin(), fl.end());
        allLoss.insert(allLoss.end(), fd.begin(), fd.end());
        allKld.insert(allKld.end(), fk.begin(), fk.end());
    }
    AnalysisOutput out;
    const double rho = spearmanRho(allLocal, allLoss);
    out.summary = {{"layer", name},
                   {"reference_loss", reference.nll},
                   {"calibration_tokens", site->samples},
                   {"candidates", candidates},
                   {"per_format", perFormat},
                   {"rank_correlation", std::isnan(rho) ? nlohmann::json() : nlohmann::json(rho)},
                   {"pooled", correlations(allLocal, allLoss, allKld)},
                   {"seconds", secondsSince(start)}};
    for (const auto& c : candidates)
        out.rows.emplace_back(c["format"].get<std::string>() + " " + c["label"].get<std::string>(), c);
    out.arrays["scores"] = scores;
    job.step(total, total, "misalignment");
    return out;
}

} // namespace qs::core
