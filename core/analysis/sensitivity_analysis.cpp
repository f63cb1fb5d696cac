// SPDX-License-Identifier: MIT
#include "analysis/sensitivity_analysis.h"

#include "base/error.h"
#include "data/windows.h"

namespace qs::core {
namespace {

using Table = std::vector<std::vector<double>>;

Eigen::MatrixXd toMatrix(const Table& t) {
    Eigen::MatrixXd m(Eigen::Index(t.size()), Eigen::Index(t.empty() ? 0 : t.front().size()));
    for (std::size_t i = 0; i < t.size(); ++i)
        for (std::size_t j = 0; j < t[i].size(); ++j) m(Eigen::Index(i), Eigen::Index(j)) = t[i][j];
    return m;
}

Table toTable(const Eigen::MatrixXd& m) {
    Table t(std::size_t(m.rows()), std::vector<double>(std::size_t(m.cols())));
    for (Eigen::Index i = 0; i < m.rows(); ++i)
        for (Eigen::Index j = 0; j < m.cols(); ++j) t[std::size_t(i)][std::size_t(j)] = m(i, j);
    return t;
}

} // namespace

const ParamSchema& SensitivityAnalysis::params() const {
    static const ParamSchema schema{
        {"formats", ParamType::Text, "int3:group:32:asym,int4:group:32:asym,int8:channel:sym", 0, -1, {},
         "candidate formats, comma-separated [METHOD/]SPEC in the --act-quant syntax, or keep", "Candidates"},
        {"groups", ParamType::Choice, "fused", 0, -1, {"fused", "each"},
         "decision groups: weights sharing an input (q/k/v, gate/up) together, or each weight alone", "Groups"},
        {"pairs", ParamType::Bool, false, 0, -1, {}, "measure CLADO's pairwise interaction terms", "Pairs"},
        {"pair_distance", ParamType::Int, 0, 0, 1 << 20, {},
         "pairs only between groups at most this many layers apart (0 = all pairs)", "Pair distance"},
        {"far_pair_sample", ParamType::Int, 0, 0, 1 << 20, {},
         "with pair_distance: also measure this many random farther group pairs, to estimate the unmeasured rest",
         "Far pairs sampled"},
        {"hawq_probes", ParamType::Int, 4, 0, 1000, {},
         "Rademacher probes (exact Hessian-vector products) for the Hessian-trace (HAWQ) score; 0 skips it",
         "HAWQ probes"},
        {"gradient_score", ParamType::Bool, true, 0, -1, {},
         "ModelOpt's output-gradient score sum (dL/dY)^2 (dY)^2 from one backward pass", "Gradient score"},
        {"seed", ParamType::Int, 1, 0, 1e15, {}, "seed of the HAWQ probes", "Seed"},
        {"prefix_cache", ParamType::Bool, true, 0, -1, {},
         "start each evaluation at the first layer it changes (off: rerun every layer, for timing)", "Prefix cache"},
        computeParam(),
        {"low_memory", ParamType::Bool, false, 0, -1, {},
         "one decoder layer in memory at a time, for models larger than memory (the same numbers; no "
         "gradient or HAWQ score)", "One layer at a time"},
    };
    return schema;
}

SensitivityOptions sensitivityOptionsFromParams(const nlohmann::json& p, const MethodRegistries& registries) {
    SensitivityOptions o;
    o.candidates = parseCandidateFormats(p.at("formats").get<std::string>(), registries, "sensitivity --formats");
    o.grouping = groupModeFromName(p.at("groups").get<std::string>(), "sensitivity --groups");
    o.pairs = p.at("pairs").get<bool>();
    o.pairDistance = p.at("pair_distance").get<int>();
    o.farPairSample = p.at("far_pair_sample").get<int>();
    o.hawqProbes = p.at("hawq_probes").get<int>();
    o.gradientScore = p.at("gradient_score").get<bool>();
    o.seed = p.at("seed").get<std::uint64_t>();
    o.prefixCache = p.at("prefix_cache").get<bool>();
    o.layerMajor = p.at("low_memory").get<bool>();
    o.bf16Products = bf16ComputeFromParams(p);
    return o;
}

AnalysisOutput SensitivityAnalysis::run(const AnalysisInput& input, const nlohmann::json& params,
                                        const JobContext& job) const {
    const SensitivityOptions options = sensitivityOptionsFromParams(params, input.registries);
    const SensitivityResult r = measureSensitivity(input.model, input.set, input.registries, options, job);
    AnalysisOutput out;
    out.summary = r.toJson();
    for (const auto& g : out.summary.at("groups")) out.rows.emplace_back(g.at("name").get<std::string>(), g);
    out.arrays["delta_loss"] = toMatrix(r.deltaLoss);
    out.arrays["kld"] = toMatrix(r.kld);
    out.arrays["top1"] = toMatrix(r.top1);
    out.arrays["local_error"] = toMatrix(r.localError);
    out.arrays["bits_per_weight"] = toMatrix(r.bitsPerWeight);
    if (!r.hawqScore.empty()) {
        out.arrays["hawq"] = toMatrix(r.hawqScore);
        out.arrays["hessian_trace"] = Eigen::Map<const Eigen::VectorXd>(r.hessianTrace.data(), Eigen::Index(r.hessianTrace.size()));
    }
    if (!r.gradientScore.empty()) out.arrays["gradient"] = toMatrix(r.gradientScore);
    if (r.interaction.size() > 0) {
        out.arrays["interaction"] = r.interaction;
        out.arrays["interaction_kld"] = r.interactionKld;
    }
    return out;
}

SensitivityResult sensitivityFromOutput(const AnalysisOutput& output) {
    const nlohmann::json& s = output.summary;
    const auto array = [&](const std::string& name) -> const Eigen::MatrixXd& {
        const auto it = output.arrays.find(name);
        if (it == output.arrays.end()) throw Error("sensitivity result: array '" + name + "' is missing");
        return it->second;
    };
    SensitivityResult r;
    try {
        for (const auto& g : s.at("groups")) {
            DecisionGroup d;
            d.name = g.at("name").get<std::string>();
            d.layer = g.at("layer").get<int>();
            d.params = g.at("params").get<std::int64_t>();
            d.weights = g.at("weights").get<std::vector<std::string>>();
            r.groups.push_back(std::move(d));
        }
        r.candidates = s.at("candidates").get<std::vector<std::string>>();
        r.reference.nll = s.at("reference").at("nll").get<double>();
        r.scoredTokens = s.at("scored_tokens").get<std::int64_t>();
        r.evaluations = s.at("evaluations").get<long long>();
        r.layerRuns = s.at("layer_runs").get<long long>();
        r.layerRunsWithoutCache = s.at("layer_runs_without_cache").get<long long>();
        r.seconds = s.at("seconds").get<double>();
        r.evaluateSeconds = s.value("evaluate_seconds", 0.0);
        r.layerMajor = s.value("layer_major", false);
        r.passes = s.value("passes", 1);
        r.peakWeightBytes = s.value("peak_weight_bytes", std::size_t(0));
        r.notes = s.value("notes", std::vector<std::string>{});
        if (s.contains("interaction")) r.pairsMeasured = s.at("interaction").at("pairs_measured").get<long long>();
    } catch (const nlohmann::json::exception& e) {
        throw Error(std::string("sensitivity result: ") + e.what());
    }
    r.deltaLoss = toTable(array("delta_loss"));
    r.kld = toTable(array("kld"));
    r.top1 = toTable(array("top1"));
    r.localError = toTable(array("local_error"));
    r.bitsPerWeight = toTable(array("bits_per_weight"));
    if (output.arrays.count("hawq")) {
        r.hawqScore = toTable(array("hawq"));
        const Eigen::MatrixXd& t = array("hessian_trace");
        r.hessianTrace.assign(t.data(), t.data() + t.size());
    }
    if (output.arrays.count("gradient")) r.gradientScore = toTable(array("gradient"));
    if (output.arrays.count("interaction")) {
        r.interaction = array("interaction");
        r.interactionKld = array("interaction_kld");
    }
    const std::size_t G = r.groups.size(), C = r.candidates.size();
    if (r.deltaLoss.size() != G || (G && r.deltaLoss.front().size() != C) ||
        (r.interaction.size() && r.interaction.rows() != Eigen::Index(G * C)))
        throw Error("sensitivity result: array shapes do not match its groups and candidates");
    return r;
}

} // namespace qs::core
