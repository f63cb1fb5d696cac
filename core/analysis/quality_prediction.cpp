// SPDX-License-Identifier: MIT
#include "analysis/quality_prediction.h"

#include "analysis/weight_directions.h"
#include "base/error.h"
#include "eval/window_scores.h"
#include "formats/format_traits.h"
#include "nn/causal_lm_grad.h"
#include "nn/hessian_estimates.h"
#include "quant/model_quantizer.h"
#include "statistics/rank_correlation.h"
#include "statistics/tensor_stats.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <set>

namespace qs::core {
namespace {

// Excess kurtosis (0 for a Gaussian, −1.2 for a uniform error) of a tensor's elements.
double excessKurtosis(const std::vector<float>& x) {
    return computeTensorStats(x.data(), 1, static_cast<std::int64_t>(x.size())).kurtosis - 3.0;
}

// The recipe's weights as RTN would quantize them with the same formats and rules (what a feature
// can see before any calibrated method runs); transforms dropped.
QuantJob rtnJob(const QuantJob& job, const MethodRegistries& registries) {
    const nlohmann::json rtnParams = validateParams(registries.quantizers.get("rtn", "method").params(), {}, "rtn");
    QuantJob r = job;
    r.method = "rtn";
    r.methodParams = rtnParams;
    r.transforms.clear();
    for (LayerRule& rule : r.layers)
        if (!rule.assignment.keep) {
            rule.assignment.method = "rtn";
            rule.assignment.methodParams = rtnParams;
        }
    return r;
}

double elementBits(const std::optional<QuantSpec>& spec) {
    return spec ? formatTraits(spec->format).elementBits : 32.0;
}

struct Fit {
    double mae = 0, rmse = 0, r2 = 0, spearman = 0;
};

Fit scores(const Eigen::VectorXd& predicted, const Eigen::VectorXd& y) {
    Fit f;
    const Eigen::ArrayXd e = (predicted - y).array();
    f.mae = e.abs().mean();
    f.rmse = std::sqrt(e.square().mean());
    const double ss = (y.array() - y.mean()).square().sum();
    f.r2 = ss > 0 ? 1.0 - e.square().sum() / ss : 0.0;
    f.spearman = spearmanRho(std::vector<double>(predicted.data(), predicted.data() + predicted.size()),
                             std::vector<double>(y.data(), y.data() + y.size()));
    return f;
}

nlohmann::json fitJson(const Fit& f) {
    return {{"mae", f.mae}, {"rmse", f.rmse}, {"r2", f.r2}, {"spearman", std::isnan(f.spearman) ? nlohmann::json() : nlohmann::json(f.spearman)}};
}

nlohmann::json parseJsonParam(const nlohmann::json& p, const char* key) {
    const std::string text = p.at(key).get<std::string>();
    if (text.empty()) return nlohmann::json::array();
    try {
        nlohmann::json j = nlohmann::json::parse(text);
        if (!j.is_array()) throw Error(std::string("predict: ") + key + " must be a JSON array");
        return j;
    } catch (const nlohmann::json::exception& e) {
        throw Error(std::string("predict: ") + key + " is not JSON: " + e.what());
    }
}

} // namespace

QualityFeaturizer::QualityFeaturizer(const Model& model, const MethodRegistries& registries,
                                     std::vector<std::vector<std::int32_t>> windows, int traceSamples,
                                     std::uint64_t seed, const JobContext& job)
    : m_model(model), m_registries(registries), m_windows(std::move(windows)) {
    if (m_windows.empty()) return;
    m_lm = std::make_unique<CausalLm>(model, std::map<std::string, std::vector<float>>{}, JobContext{nullptr, job.cancel});
    if (traceSamples <= 0) return;
    const std::vector<std::span<const std::int32_t>> spans(m_windows.begin(), m_windows.end());
    const WeightBlocks blocks = layerBlocks(model, *m_lm);
    const std::vector<BlockEstimate> traces = hutchinsonTraces(*m_lm, spans, 1, blocks, traceSamples, seed, {}, job);
    std::map<int, double> params;
    for (const DifferentiableWeight& w : differentiableWeights(*m_lm))
        if (const WeightInfo* info = model.find(w.name); info && info->layerIndex >= 0)
            params[info->layerIndex] += static_cast<double>(w.size);
    for (const BlockEstimate& e : traces)
        if (e.label.rfind("layer ", 0) == 0) {
            const int layer = std::stoi(e.label.substr(6));
            m_tracePerWeight[layer] = e.value / std::max(1.0, params[layer]);
        }
}

QualityFeaturizer::~QualityFeaturizer() = default;

std::string QualityFeaturizer::formatGroup(const Recipe& recipe) {
    std::set<std::string> formats{std::string(formatTraits(recipe.job.spec.format).name)};
    for (const LayerRule& r : recipe.job.layers)
        if (!r.assignment.keep) formats.insert(std::string(formatTraits(r.assignment.spec.format).name));
    return formats.size() == 1 ? *formats.begin() : "mixed";
}

std::map<std::string, double> QualityFeaturizer::features(const Recipe& recipe, const JobContext& job) const {
    if (!recipe.quantizeWeights) throw Error("predict: the recipe " + recipe.label() + " quantizes no weights");
    std::map<std::string, double> f;
    const JobContext quiet{nullptr, job.cancel};
    ModelQuantResult q = quantizeModel(m_model, m_registries, rtnJob(recipe.job, m_registries), quiet, true);
    // Shares of the quantized parameters by method, format and granularity (the recipe's own methods).
    double total = 0;
    std::map<std::string, double> share;
    for (const LayerQuantResult& l : q.layers) {
        const double n = static_cast<double>(l.rows * l.cols);
        total += n;
        const WeightAssignment a = recipe.job.assignmentFor(l.name);
        if (a.keep) {
            share["kept_share"] += n;
            continue;
        }
        share["method:" + a.method] += n;
        share["format:" + std::string(formatTraits(a.spec.format).name)] += n;
        share["granularity:" + std::string(granularityName(a.spec.granularity))] += n;
        share["element_bits"] += n * formatTraits(a.spec.format).elementBits;
        share["asymmetric"] += a.spec.symmetric ? 0.0 : n;
    }
    for (const auto& [k, v] : share) f[k] = total > 0 ? v / total : 0.0;
    f["bits_per_weight"] = q.bitsPerWeight;
    f["scale_overhead_bits"] = q.bitsPerWeight - f["element_bits"];
    f["act_bits"] = elementBits(recipe.activation);
    f["kv_bits"] = elementBits(recipe.kvCache);
    for (const TransformStep& t : recipe.job.transforms) f["transform:" + t.name] = 1.0;

    // The RTN error: energies, SQNR, HAWQ's trace-weighted energy; the direction v = Q(W) − W.
    WeightDirection v;
    double signal = 0, noise = 0, hawq = 0, minSqnr = std::numeric_limits<double>::infinity();
    // Tails: the weights' excess kurtosis (outliers stretch a scale) and the error's (clipped outliers).
    double kurtosisSum = 0, kurtosisMax = -3, errorKurtosisSum = 0, elements = 0;
    for (auto& [name, quantized] : q.weights) {
        const WeightInfo* info = m_model.find(name);
        const std::vector<float> w = m_model.weight(name).toFloats();
        double s = 0, e = 0;
        for (std::size_t i = 0; i < w.size(); ++i) {
            const double d = static_cast<double>(quantized[i]) - w[i];
            s += static_cast<double>(w[i]) * w[i];
            e += d * d;
            quantized[i] -= w[i];
        }
        const double n = static_cast<double>(w.size());
        const double kurtosis = excessKurtosis(w), errorKurtosis = excessKurtosis(quantized);
        kurtosisSum += n * kurtosis;
        kurtosisMax = std::max(kurtosisMax, kurtosis);
        errorKurtosisSum += n * errorKurtosis;
        elements += n;
        signal += s;
        noise += e;
        if (e > 0) minSqnr = std::min(minSqnr, 10 * std::log10(s / e));
        if (info) {
            const auto t = m_tracePerWeight.find(info->layerIndex);
            if (t != m_tracePerWeight.end()) hawq += t->second * e;
        }
        v[name] = std::move(quantized);
    }
    f["sqnr_db"] = noise > 0 ? 10 * std::log10(signal / noise) : 200.0;
    f["sqnr_min_db"] = std::isfinite(minSqnr) ? minSqnr : 200.0;
    f["relative_error_energy"] = signal > 0 ? noise / signal : 0.0;
    f["weight_kurtosis"] = elements > 0 ? kurtosisSum / elements : 0.0;
    f["weight_kurtosis_max"] = elements > 0 ? kurtosisMax : 0.0;
    f["error_kurtosis"] = elements > 0 ? errorKurtosisSum / elements : 0.0;
    if (!m_tracePerWeight.empty()) f["hawq_trace_energy"] = hawq;
    if (m_lm) {
        const std::vector<std::span<const std::int32_t>> spans(m_windows.begin(), m_windows.end());
        const DirectionalCurvature c = curvatureAlong(*m_lm, spans, 1, v, false, {}, quiet);
        f["slope_gv"] = c.dirDeriv;
        f["curvature_vhv"] = c.curvature;
        f["second_order_estimate"] = c.dirDeriv + 0.5 * c.curvature;
    }
    return f;
}

Eigen::VectorXd outOfFoldPredictions(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                     const std::vector<std::string>& groups, const RegressorOptions& options) {
    Eigen::VectorXd out(y.size());
    std::vector<std::string> order;
    for (const auto& g : groups)
        if (std::find(order.begin(), order.end(), g) == order.end()) order.push_back(g);
    for (const std::string& g : order) {
        std::vector<Eigen::Index> in, held;
        for (Eigen::Index i = 0; i < y.size(); ++i) (groups[std::size_t(i)] == g ? held : in).push_back(i);
        if (in.size() < 2) {
            for (Eigen::Index i : held) out(i) = y.mean();
            continue;
        }
        const Regressor r = Regressor::fit(x(in, Eigen::all), y(in), options);
        const Eigen::VectorXd p = r.predict(x(held, Eigen::all));
        for (std::size_t k = 0; k < held.size(); ++k) out(held[k]) = p(Eigen::Index(k));
    }
    return out;
}

Eigen::VectorXd outOfFoldMean(const Eigen::VectorXd& y, const std::vector<std::string>& groups) {
    Eigen::VectorXd out(y.size());
    for (Eigen::Index i = 0; i < y.size(); ++i) {
        double s = 0;
        long long n = 0;
        for (Eigen::Index k = 0; k < y.size(); ++k)
            if (groups[std::size_t(k)] != groups[std::size_t(i)]) s += y(k), ++n;
        out(i) = n ? s / static_cast<double>(n) : y.mean();
    }
    return out;
}

Eigen::VectorXd permutationImportance(const Regressor& model, const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                      int repeats, std::uint64_t seed) {
    const double base = (model.predict(x) - y).cwiseAbs().mean();
    std::mt19937_64 rng(seed);
    Eigen::VectorXd out = Eigen::VectorXd::Zero(x.cols());
    for (Eigen::Index j = 0; j < x.cols(); ++j)
        for (int r = 0; r < repeats; ++r) {
            Eigen::MatrixXd shuffled = x;
            // Fisher–Yates with the 64-bit generator's own numbers (std::shuffle's use of it is unspecified).
            for (Eigen::Index i = x.rows() - 1; i > 0; --i)
                std::swap(shuffled(i, j), shuffled(Eigen::Index(rng() % std::uint64_t(i + 1)), j));
            out(j) += ((model.predict(shuffled) - y).cwiseAbs().mean() - base) / repeats;
        }
    return out;
}

const ParamSchema& PredictAnalysis::params() const {
    static const ParamSchema schema{
        {"training", ParamType::Text, "", 0, -1, {},
         "the evaluated recipes: JSON [{\"recipe\": {...}, \"target\": number, \"label\": text}]", "Training runs"},
        {"candidates", ParamType::Text, "", 0, -1, {}, "recipes to rank: JSON [recipe, ...]", "Candidates"},
        {"target", ParamType::Choice, "delta_nll", 0, -1, {"delta_nll", "kld"},
         "what is predicted: ln(ppl / ppl_fp32) or the mean KL to the fp32 model", "Target"},
        {"reference_perplexity", ParamType::Float, 0.0, 0, 1e300, {},
         "the fp32 perplexity (turns predicted delta_nll into perplexity; 0: unknown)", "Reference perplexity"},
        {"trees", ParamType::Int, 300, 1, 100000, {}, "random forest: trees", "Trees"},
        {"lambda", ParamType::Float, 1.0, 0, 1e9, {}, "linear model: L2 penalty on standardised coefficients",
         "Lambda"},
        {"curvature", ParamType::Bool, true, 0, -1, {},
         "exact slope and curvature of the loss along each recipe's RTN error (one Hessian-vector product each)",
         "Curvature features"},
        {"trace_samples", ParamType::Int, 4, 0, 10000, {},
         "Hutchinson probes for per-layer Hessian traces (0: no HAWQ feature)", "Trace samples"},
        {"seed", ParamType::Int, 0, 0, 1e15, {}, "seed of the forest, the probes and the permutations", "Seed"},
    };
    return schema;
}

AnalysisOutput PredictAnalysis::run(const AnalysisInput& input, const nlohmann::json& p, const JobContext& job) const {
    const auto start = std::chrono::steady_clock::now();
    struct Example {
        Recipe recipe;
        std::string label;
        double target = 0;
    };
    std::vector<Example> training;
    for (const auto& t : parseJsonParam(p, "training")) {
        if (!t.is_object() || !t.contains("recipe") || !t.contains("target") || !t["target"].is_number())
            throw Error("predict: each training entry needs \"recipe\" and a numeric \"target\"");
        Recipe r = recipeFromJson(t["recipe"], input.registries, "predict training recipe");
        training.push_back({std::move(r), t.value("label", ""), t["target"].get<double>()});
        if (training.back().label.empty()) training.back().label = training.back().recipe.label();
    }
    if (training.size() < 3)
        throw Error("predict: needs at least 3 evaluated recipes to learn from, got " + std::to_string(training.size()));
    std::vector<Recipe> candidates;
    for (const auto& c : parseJsonParam(p, "candidates"))
        candidates.push_back(recipeFromJson(c, input.registries, "predict candidate recipe"));

    const std::uint64_t seed = p.at("seed").get<std::uint64_t>();
    const QualityFeaturizer featurizer(input.model, input.registries,
                                       p.at("curvature").get<bool>() ? input.set.windows
                                                                     : std::vector<std::vector<std::int32_t>>{},
                                       p.at("curvature").get<bool>() ? p.at("trace_samples").get<int>() : 0, seed, job);
    const std::size_t n = training.size(), m = candidates.size();
    std::vector<std::map<std::string, double>> rows;
    for (std::size_t i = 0; i < n + m; ++i) {
        const Recipe& r = i < n ? training[i].recipe : candidates[i - n];
        job.step(static_cast<long long>(i), static_cast<long long>(n + m), "features of " + r.label());
        rows.push_back(featurizer.features(r, job));
    }
    std::set<std::string> nameSet;
    for (const auto& r : rows)
        for (const auto& [k, v] : r) nameSet.insert(k);
    const std::vector<std::string> names(nameSet.begin(), nameSet.end());
    Eigen::MatrixXd x = Eigen::MatrixXd::Zero(Eigen::Index(n), Eigen::Index(names.size()));
    Eigen::MatrixXd xc = Eigen::MatrixXd::Zero(Eigen::Index(m), Eigen::Index(names.size()));
    for (std::size_t i = 0; i < n + m; ++i)
        for (std::size_t j = 0; j < names.size(); ++j) {
            const auto it = rows[i].find(names[j]);
            const double v = it == rows[i].end() ? 0.0 : it->second;
            (i < n ? x(Eigen::Index(i), Eigen::Index(j)) : xc(Eigen::Index(i - n), Eigen::Index(j))) = v;
        }
    Eigen::VectorXd y(static_cast<Eigen::Index>(n));
    std::vector<std::string> each, formats;
    for (std::size_t i = 0; i < n; ++i) {
        y(Eigen::Index(i)) = training[i].target;
        each.push_back(std::to_string(i));
        formats.push_back(QualityFeaturizer::formatGroup(training[i].recipe));
    }

    RegressorOptions forest, linear;
    forest.trees = p.at("trees").get<int>();
    forest.seed = seed;
    linear.kind = "linear";
    linear.lambda = p.at("lambda").get<double>();
    job.step(0, 0, "cross-validating");
    const Fit baselineLoo = scores(outOfFoldMean(y, each), y), baselineLofo = scores(outOfFoldMean(y, formats), y);
    nlohmann::json learners = nlohmann::json::object();
    std::map<std::string, Regressor> fitted;
    Eigen::MatrixXd importance(static_cast<Eigen::Index>(names.size()), 2);
    int col = 0;
    for (const auto& [key, options] : {std::pair<std::string, RegressorOptions>{"forest", forest}, {"linear", linear}}) {
        const Fit loo = scores(outOfFoldPredictions(x, y, each, options), y);
        const Fit lofo = scores(outOfFoldPredictions(x, y, formats, options), y);
        Regressor r = Regressor::fit(x, y, options);
        const Eigen::VectorXd imp = permutationImportance(r, x, y, 5, seed);
        importance.col(col++) = imp;
        nlohmann::json impJson = nlohmann::json::object();
        for (std::size_t j = 0; j < names.size(); ++j) impJson[names[j]] = imp(Eigen::Index(j));
        learners[key] = {{"loo", fitJson(loo)}, {"lofo", fitJson(lofo)}, {"importance", impJson}};
        fitted.emplace(key, std::move(r));
    }

    const double refPpl = p.at("reference_perplexity").get<double>();
    const bool nll = p.at("target").get<std::string>() == "delta_nll";
    nlohmann::json predictions = nlohmann::json::array();
    if (m) {
        const Eigen::VectorXd pf = fitted.at("forest").predict(xc), pl = fitted.at("linear").predict(xc);
        std::vector<std::size_t> order(m);
        for (std::size_t i = 0; i < m; ++i) order[i] = i;
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return pf(Eigen::Index(a)) < pf(Eigen::Index(b)); });
        for (std::size_t rank = 0; rank < m; ++rank) {
            const std::size_t i = order[rank];
            nlohmann::json e = {{"rank", rank + 1},
                                {"label", candidates[i].label()},
                                {"recipe", candidates[i].toJson()},
                                {"predicted", pf(Eigen::Index(i))},
                                {"predicted_linear", pl(Eigen::Index(i))},
                                // The two learners' disagreement: where to evaluate first to learn most.
                                {"uncertainty", std::abs(pf(Eigen::Index(i)) - pl(Eigen::Index(i)))},
                                {"bits_per_weight", xc(Eigen::Index(i), Eigen::Index(std::find(names.begin(), names.end(), "bits_per_weight") - names.begin()))}};
            if (nll && refPpl > 0) e["predicted_perplexity"] = refPpl * std::exp(pf(Eigen::Index(i)));
            predictions.push_back(e);
        }
    }
    AnalysisOutput out;
    out.summary = {{"target", p.at("target")},
                   {"training_runs", n},
                   {"features", names},
                   {"loo_error", learners["forest"]["loo"]["mae"]},
                   {"lofo_error", learners["forest"]["lofo"]["mae"]},
                   {"baseline_error", baselineLoo.mae},
                   {"baseline_lofo_error", baselineLofo.mae},
                   {"learners", learners},
                   {"importances", learners["forest"]["importance"]},
                   {"format_groups", std::set<std::string>(formats.begin(), formats.end())},
                   {"predictions", predictions},
                   {"seconds", secondsSince(start)}};
    const Eigen::VectorXd looForest = outOfFoldPredictions(x, y, each, forest);
    for (std::size_t i = 0; i < n; ++i)
        out.rows.emplace_back(training[i].label, nlohmann::json{{"target", y(Eigen::Index(i))},
                                                                {"loo_predicted", looForest(Eigen::Index(i))},
                                                                {"format_group", formats[i]}});
    out.arrays["features"] = x;
    out.arrays["importance"] = importance;
    job.step(1, 1, "predict");
    return out;
}

} // namespace qs::core
