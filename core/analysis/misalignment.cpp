// SPDX-License-Identifier: MIT
#include "analysis/misalignment.h"

#include "model/weight_layout.h"
#include "analysis/candidate_formats.h"
#include "analysis/prefix_evaluator.h"
#include "analysis/sensitivity.h"
#include "base/error.h"
#include "data/windows.h"
#include "base/uniform.h"
#include "calib/collect_stats.h"
#include "eval/window_scores.h"
#include "formats/format_traits.h"
#include "quant/layer_rules.h"
#include "quant/model_quantizer.h"
#include "quant/recipe.h"
#include "statistics/rank_correlation.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <set>

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
            {"awq", "awq", {}},
            {"gptvq", "gptvq d2", {{"dim", 2}}}}; // its index bits follow the format's (below)
}

// The first variant of each method, and QAT's weights, are re-rounded at random.
bool rerounded(const std::string& label) {
    return label == "rtn" || label == "gptq" || label == "awq" || label == "qat";
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

// QAT's weights of `name` ([out, in]): the model trained through this weight's fake quantization
// alone (every other weight kept in float), `steps` Adam steps on the calibration windows.
std::vector<float> qatWeights(const AnalysisInput& input, const CandidateFormat& format, const std::string& name,
                              int steps, const WeightInfo& info, const JobContext& quiet) {
    nlohmann::json rule = format.ruleKeys();
    rule.erase("method");
    rule.erase("method_params");
    rule["match"] = ruleName(name);
    nlohmann::json recipe = rule;
    recipe.erase("match");
    recipe["method"] = "qat";
    recipe["method_params"] = {{"steps", steps}, {"eval_every", std::max(1, steps / 4)}};
    recipe["layers"] = nlohmann::json::array({{{"match", "*"}, {"keep", true}}, rule});
    const QuantJob job = recipeFromJson(recipe, input.registries, "misalignment qat").job;
    const ModelQuantResult result = quantizeModel(input.model, input.registries, job, quiet, true, {}, &*input.calibration);
    const auto it = result.weights.find(name);
    if (it == result.weights.end()) throw Error("misalignment: QAT left " + name + " out");
    // Stored layout back to [out, in].
    return outInFromStored(info, it->second);
}

} // namespace

std::int64_t scaleGroupCols(const QuantSpec& spec, std::int64_t cols) {
    const int fixed = formatTraits(spec.format).fixedBlock;
    if (fixed > 0) return std::min<std::int64_t>(fixed, cols);
    if (spec.granularity == Granularity::Group || spec.granularity == Granularity::Block)
        return std::min<std::int64_t>(spec.groupSize, cols);
    return 0;
}

std::vector<float> randomRerounding(std::span<const float> w, std::span<const float> q, std::int64_t rows,
                                    std::int64_t cols, std::int64_t groupCols, double share, std::mt19937_64& rng) {
    if (std::int64_t(w.size()) != rows * cols || q.size() != w.size())
        throw Error("random rerounding: the weight and its quantization differ in size");
    const std::int64_t step = groupCols > 0 ? groupCols : cols;
    std::vector<float> out(q.begin(), q.end());
    std::vector<float> levels;
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c0 = 0; c0 < cols; c0 += step) {
            const std::int64_t begin = r * cols + c0, end = r * cols + std::min(cols, c0 + step);
            levels.assign(q.begin() + begin, q.begin() + end);
            std::sort(levels.begin(), levels.end());
            levels.erase(std::unique(levels.begin(), levels.end()), levels.end());
            for (std::int64_t i = begin; i < end; ++i) {
                // Two draws per element whatever happens: the sequence does not depend on the values.
                const double pick = uniform01(rng);
                const double move = uniform01(rng);
                const float wi = w[std::size_t(i)], qi = q[std::size_t(i)];
                if (pick >= share || wi == qi) continue;
                const auto at = std::lower_bound(levels.begin(), levels.end(), qi);
                float next;
                if (wi > qi) {
                    if (at + 1 == levels.end()) continue; // already the top level
                    next = *(at + 1);
                } else {
                    if (at == levels.begin()) continue;
                    next = *(at - 1);
                }
                const double p = std::min(1.0, std::abs(double(wi) - qi) / std::abs(double(next) - qi));
                if (move < p) out[std::size_t(i)] = next;
            }
        }
    return out;
}

const ParamSchema& MisalignmentAnalysis::params() const {
    static const ParamSchema schema{
        {"layer", ParamType::Text, "", 0, -1, {}, "the weight, e.g. model.layers.1.mlp.down_proj", "Weight"},
        {"formats", ParamType::Text, "int2:group:32:asym,int3:group:32:asym,int4:group:32:asym", 0, -1, {},
         "formats, comma-separated SPECs in the --act-quant syntax: one correlation each", "Formats"},
        {"mixes", ParamType::Int, 6, 0, 10000, {},
         "random element-wise mixes of RTN's and GPTQ's weights per format (graded local errors)", "Mixes"},
        {"rerounding", ParamType::Int, 2, 0, 100, {},
         "random-rounding perturbations of RTN's, GPTQ's, AWQ's and QAT's weights per format (k of n re-rounds a "
         "share k/n of the elements stochastically)",
         "Re-roundings"},
        {"qat_steps", ParamType::Int, 0, 0, 100000, {},
         "QAT of this weight alone (the others kept in float), Adam steps on the calibration data; 0: no QAT candidate",
         "QAT steps"},
        {"seed", ParamType::Int, 0, 0, 1e15, {}, "seed of the mixes and re-roundings", "Seed"},
        computeParam(), // the global evaluations' products; the local objective and QAT stay float32
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
    auto stored = [&](const std::vector<float>& q) { return storedFromOutIn(*info, q); };
    const std::vector<float> wStored = stored(w);
    auto local = [&](const std::vector<float>& q) {
        std::vector<float> delta = stored(q);
        for (std::size_t i = 0; i < delta.size(); ++i) delta[i] -= wStored[i];
        return localObjective(delta, *info, site->xtx) / static_cast<double>(std::max<std::int64_t>(1, site->samples));
    };

    std::vector<std::vector<std::int32_t>> windows = input.set.windows;
    const CausalLm evaluated = evaluationModel(lm, bf16ComputeFromParams(p));
    PrefixEvaluator evaluator(input.model, evaluated, std::move(windows), {}, quiet);
    const PerturbedScores reference = evaluator.reference();
    auto global = [&](const std::vector<float>& q) {
        std::map<std::string, std::vector<float>> replaced;
        replaced[name] = stored(q);
        return evaluator.evaluate(std::move(replaced), quiet);
    };

    const std::vector<CandidateFormat> formats =
        parseCandidateFormats(p.at("formats").get<std::string>(), input.registries, "misalignment --formats");
    const int mixes = p.at("mixes").get<int>(), reroundings = p.at("rerounding").get<int>();
    const int qatSteps = p.at("qat_steps").get<int>();
    std::mt19937_64 rng(p.at("seed").get<std::uint64_t>());
    const std::vector<Variant> variants = family();
    const long long bases = static_cast<long long>(variants.size()) + (qatSteps > 0 ? 1 : 0);
    const long long perFormatCount = bases + mixes + reroundings * (qatSteps > 0 ? 4 : 3);
    const long long total = static_cast<long long>(formats.size()) * perFormatCount;
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
        // Per-tensor scales: the whole matrix is one group of levels.
        const bool tensorWide = f.job.spec.granularity == Granularity::Tensor;
        const std::int64_t levelRows = tensorWide ? 1 : rows, levelCols = tensorWide ? rows * cols : cols;
        const std::int64_t groupCols = tensorWide ? 0 : scaleGroupCols(f.job.spec, cols);
        auto recordWithReroundings = [&](const std::string& method, const std::string& label, const std::vector<float>& q) {
            record(method, label, q);
            if (!rerounded(label)) return;
            for (int k = 1; k <= reroundings; ++k) {
                const double share = double(k) / double(reroundings);
                char text[64];
                std::snprintf(text, sizeof text, "%s rerounded %.0f%%", label.c_str(), 100 * share);
                record(method, text, randomRerounding(w, q, levelRows, levelCols, groupCols, share, rng));
            }
        };
        for (const Variant& v : variants) {
            QuantSpec qs = f.job.spec;
            if (v.scaleRule) qs.scaleRule = *v.scaleRule, qs.percentile = v.percentile;
            const Quantizer& quantizer = input.registries.quantizers.get(v.method, "method");
            nlohmann::json given = v.params;
            if (v.method == "gptvq") given["bits"] = std::min(6, formatTraits(qs.format).elementBits);
            const nlohmann::json params = validateParams(quantizer.params(), given, v.method);
            std::vector<float> q(w.size());
            quantizer.quantize(matrix, qs, params, q.data(), quiet);
            recordWithReroundings(v.method, v.label, q);
            if (v.label == "rtn") rtn = q;
            if (v.label == "gptq") gptq = q;
        }
        if (qatSteps > 0) {
            job.step(done, total, spec + ": qat");
            recordWithReroundings("qat", "qat", qatWeights(input, f, name, qatSteps, *info, quiet));
        }
        // Element-wise mixes: each element from GPTQ with probability (k + 1) / (mixes + 1), else RTN's.
        for (int k = 0; k < mixes; ++k) {
            const double share = double(k + 1) / double(mixes + 1);
            std::vector<float> q(w.size());
            for (std::size_t i = 0; i < q.size(); ++i)
                q[i] = uniform01(rng) < share ? gptq[i] : rtn[i];
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
