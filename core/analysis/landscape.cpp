// SPDX-License-Identifier: MIT
#include "analysis/landscape.h"

#include "analysis/weight_directions.h"
#include "base/error.h"
#include "eval/window_scores.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace qs::core {
namespace {

const char* kOwner = "landscape";

struct Direction {
    std::string source; ///< as given, the recipe shown by its label
    WeightDirection v;
    /// A recipe's quantized weights (the exact point at t = 1); empty for other directions.
    std::map<std::string, std::vector<float>> quantized;
    nlohmann::json info = nlohmann::json::object();
};

// What the loss is evaluated on, and how.
struct Setting {
    const Model& model;
    const CausalLm& lm;
    std::vector<std::span<const std::int32_t>> windows;
    int scoreFrom = 1;
    GradOptions grad;
    JobContext quiet; ///< the caller's cancel, no progress (the analysis reports its own)
    int layer = -1;
};

std::string tKey(double t) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", t);
    return buf;
}

Direction makeDirection(const std::string& text, const AnalysisInput& input, const Setting& s, const WeightBlocks& blocks,
                        const nlohmann::json& p, const JobContext& job) {
    Direction d;
    const auto colon = text.find(':');
    const std::string kind = text.substr(0, colon), arg = colon == std::string::npos ? "" : text.substr(colon + 1);
    if (kind == "recipe" && !arg.empty()) {
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(arg);
        } catch (const nlohmann::json::exception& e) {
            throw Error(std::string(kOwner) + ": direction recipe: not JSON (" + e.what() + ")");
        }
        const Recipe recipe = recipeFromJson(j, input.registries, std::string(kOwner) + " direction recipe");
        if (recipeNeedsCalibration(recipe, input.registries) && !input.calibration)
            throw Error(std::string(kOwner) + ": the recipe " + recipe.label() +
                        " is calibrated: give calibration data (--calib FILE)");
        d.v = recipeDirection(s.model, recipe, input.registries, input.calibration, kOwner, s.quiet, &d.quantized);
        d.source = "recipe: " + recipe.label();
        d.info["recipe"] = recipe.toJson();
        if (recipe.activation || recipe.kvCache)
            d.info["note"] = "the recipe's activation and KV quantization are not weights: not in the direction";
    } else if (kind == "random" && !arg.empty()) {
        std::uint64_t seed = 0;
        try {
            std::size_t used = 0;
            seed = std::stoull(arg, &used);
            if (used != arg.size()) throw std::invalid_argument(arg);
        } catch (const std::exception&) {
            throw Error(std::string(kOwner) + ": direction random:" + arg + ": the seed must be a whole number");
        }
        d.v = randomDirection(s.model, s.lm, seed);
        d.source = text;
    } else if (text == "eigen") {
        int block = -1;
        if (s.layer >= 0) {
            const auto it = std::find(blocks.labels.begin(), blocks.labels.end(), "layer " + std::to_string(s.layer));
            block = static_cast<int>(it - blocks.labels.begin());
        }
        job.step(0, 0, "top Hessian eigenvector");
        EigenPair e = topEigenvector(s.lm, s.windows, s.scoreFrom, blocks, block, p.at("iterations").get<int>(), 1e-3,
                                     p.at("seed").get<std::uint64_t>(), s.grad, s.quiet);
        d.v = std::move(e.vector);
        d.source = "eigen";
        d.info["eigenvalue"] = e.estimate.value;
        d.info["eigen_change"] = e.estimate.stdError;
        d.info["iterations"] = e.estimate.steps;
    } else {
        throw Error(std::string(kOwner) + ": direction '" + text + "': expected recipe:R.json, random:SEED or eigen");
    }
    if (s.layer >= 0) {
        d.v = layerPart(s.model, d.v, s.layer);
        std::map<std::string, std::vector<float>> part;
        for (auto& [name, w] : d.quantized)
            if (d.v.count(name)) part[name] = std::move(w);
        d.quantized = std::move(part);
    }
    return d;
}

// L(W + t·v), with the recipe's own quantized weights at t = 1 (W + (Q − W) can be an ulp off Q).
double lossAt(const Setting& s, const Direction& d, double t) {
    if (t == 1.0 && !d.quantized.empty()) {
        const CausalLm q(s.lm, d.quantized);
        return lossAlong(q, s.windows, s.scoreFrom, {}, 0.0, s.grad, s.quiet);
    }
    if (t == 0.0) return lossAlong(s.lm, s.windows, s.scoreFrom, {}, 0.0, s.grad, s.quiet);
    return lossAlong(s.lm, s.windows, s.scoreFrom, d.v, t, s.grad, s.quiet);
}

} // namespace

std::vector<double> parseNumberList(const std::string& text, const std::string& owner) {
    std::vector<double> out;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        try {
            std::size_t used = 0;
            out.push_back(std::stod(item, &used));
            if (used != item.size() || !std::isfinite(out.back())) throw std::invalid_argument(item);
        } catch (const std::exception&) {
            throw Error(owner + ": '" + item + "' in '" + text + "' is not a number");
        }
    }
    if (out.empty()) throw Error(owner + ": needs at least one value");
    return out;
}

nlohmann::json blockEstimatesJson(const std::vector<BlockEstimate>& estimates, const char* spread) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& e : estimates) j[e.label] = {{"value", e.value}, {spread, e.stdError}, {"steps", e.steps}};
    return j;
}

double basinRadius(const std::vector<double>& ts, const std::vector<double>& losses, double delta) {
    double l0 = NAN;
    for (std::size_t i = 0; i < ts.size(); ++i)
        if (ts[i] == 0) l0 = losses[i];
    if (std::isnan(l0)) throw Error("basin radius: the slice has no t = 0");
    double prevT = 0, prevRise = 0;
    for (std::size_t i = 0; i < ts.size(); ++i) {
        if (ts[i] <= 0) continue;
        const double rise = losses[i] - l0;
        if (rise > delta) return prevT + (ts[i] - prevT) * (delta - prevRise) / (rise - prevRise);
        prevT = ts[i];
        prevRise = rise;
    }
    return -1;
}

const ParamSchema& LandscapeAnalysis::params() const {
    static const ParamSchema schema{
        {"direction", ParamType::Text, "random:1", 0, -1, {},
         "first direction v: recipe:R.json (v = Q(W) − W), random:SEED (filter-normalised Gaussian) or eigen "
         "(top Hessian eigenvector, unit length)",
         "Direction"},
        {"direction2", ParamType::Text, "", 0, -1, {}, "second direction w for a 2-D grid L(W + a·v + b·w) (as direction)",
         "Second direction"},
        {"t", ParamType::Text, "-1,-0.5,-0.25,0,0.25,0.5,1,1.5", 0, -1, {}, "steps along the first direction", "t"},
        {"t2", ParamType::Text, "", 0, -1, {}, "steps along the second direction (default: as t)", "t2"},
        {"layer", ParamType::Int, -1, -1, 1 << 20, {}, "only this decoder layer's part of each direction (-1: all)",
         "Layer"},
        {"per_layer", ParamType::Bool, true, 0, -1, {},
         "the curvature of each decoder layer's part of each direction (one Hessian-vector product each)",
         "Per-layer curvature"},
        {"trace", ParamType::Bool, false, 0, -1, {}, "Hutchinson estimates of tr(H) per decoder layer", "Trace"},
        {"eigen", ParamType::Bool, false, 0, -1, {}, "power-iteration top eigenvalue per decoder layer",
         "Eigenvalues"},
        {"samples", ParamType::Int, 8, 1, 100000, {}, "Hutchinson probes", "Samples"},
        {"iterations", ParamType::Int, 20, 1, 100000, {}, "power iterations at most (stop at 1e-3 relative change)",
         "Iterations"},
        {"seed", ParamType::Int, 0, 0, 1e15, {}, "seed of the probes and power-iteration starts", "Seed"},
        {"delta", ParamType::Float, 0.01, 0, 1e6, {},
         "basin radius: the smallest t > 0 where the loss has risen by more than this (nats)", "Basin delta"},
        {"float64", ParamType::Bool, false, 0, -1, {}, "every operation in float64 (reference-grade, slower)",
         "Float64"},
    };
    return schema;
}

AnalysisOutput LandscapeAnalysis::run(const AnalysisInput& input, const nlohmann::json& p, const JobContext& job) const {
    const auto start = std::chrono::steady_clock::now();
    const std::vector<double> ts = parseNumberList(p.at("t").get<std::string>(), "landscape --t");
    const std::string t2Text = p.at("t2").get<std::string>();
    const std::vector<double> t2s = t2Text.empty() ? ts : parseNumberList(t2Text, "landscape --t2");
    job.step(0, 0, "loading the model");
    const CausalLm lm(input.model, {}, JobContext{nullptr, job.cancel});
    Setting s{input.model, lm, {}, 1, {}, JobContext{nullptr, job.cancel}, p.at("layer").get<int>()};
    for (const auto& w : input.set.windows) s.windows.emplace_back(w);
    s.grad.float64 = p.at("float64").get<bool>();
    if (s.layer >= lm.numLayers())
        throw Error("landscape: --layer " + std::to_string(s.layer) + ": the model has " +
                    std::to_string(lm.numLayers()) + " decoder layers");
    const WeightBlocks blocks = layerBlocks(input.model, lm);

    std::vector<Direction> dirs;
    dirs.push_back(makeDirection(p.at("direction").get<std::string>(), input, s, blocks, p, job));
    if (const std::string d2 = p.at("direction2").get<std::string>(); !d2.empty())
        dirs.push_back(makeDirection(d2, input, s, blocks, p, job));

    const bool perLayer = p.at("per_layer").get<bool>();
    const int layers = lm.numLayers();
    // Each direction's slice runs along its own axis: t for the first, t2 for the second.
    const std::vector<const std::vector<double>*> axes{&ts, &t2s};
    long long total = 0;
    for (std::size_t di = 0; di < dirs.size(); ++di)
        total += 1 + static_cast<long long>(axes[di]->size()) + (perLayer ? layers : 0);
    if (dirs.size() > 1) total += static_cast<long long>(ts.size() * t2s.size());
    long long done = 0;
    auto tick = [&](const std::string& what) { job.step(done++, total, what); };

    AnalysisOutput out;
    tick("loss at W");
    const double l0 = lossAt(s, dirs[0], 0.0);
    nlohmann::json dirJson = nlohmann::json::array();
    Eigen::MatrixXd layerCurv = Eigen::MatrixXd::Zero(perLayer ? layers : 0, Eigen::Index(dirs.size()));
    std::vector<std::vector<double>> sliceValues(dirs.size());
    for (std::size_t di = 0; di < dirs.size(); ++di) {
        const Direction& d = dirs[di];
        tick("curvature along " + d.source);
        const DirectionalCurvature c = curvatureAlong(lm, s.windows, s.scoreFrom, d.v, false, s.grad, s.quiet);
        const double sq = squaredNorm(d.v);
        const std::vector<double>& axis = *axes[di];
        nlohmann::json slice = nlohmann::json::object();
        Eigen::MatrixXd sliceArray(static_cast<Eigen::Index>(axis.size()), 2);
        for (std::size_t i = 0; i < axis.size(); ++i) {
            tick("slice along " + d.source + ", t = " + tKey(axis[i]));
            const double l = axis[i] == 0 ? l0 : lossAt(s, d, axis[i]);
            sliceValues[di].push_back(l);
            slice[tKey(axis[i])] = l;
            sliceArray.row(Eigen::Index(i)) << axis[i], l;
        }
        out.arrays[di == 0 ? "slice" : "slice2"] = sliceArray;
        // The radius from the slice sorted by t, with t = 0 in it.
        std::vector<std::pair<double, double>> sorted{{0.0, l0}};
        for (std::size_t i = 0; i < axis.size(); ++i)
            if (axis[i] != 0) sorted.emplace_back(axis[i], sliceValues[di][i]);
        std::sort(sorted.begin(), sorted.end());
        std::vector<double> st, sl;
        for (const auto& [t, l] : sorted) {
            st.push_back(t);
            sl.push_back(l);
        }
        const double radius = basinRadius(st, sl, p.at("delta").get<double>());
        nlohmann::json j = d.info;
        j["source"] = d.source;
        j["l2_norm"] = std::sqrt(sq);
        j["weights"] = d.v.size();
        j["dir_deriv"] = c.dirDeriv;
        j["curvature"] = c.curvature;
        j["sharpness"] = sq > 0 ? c.curvature / sq : 0.0; // vᵀHv/|v|²: curvature per unit length
        j["basin_radius"] = radius >= 0 ? nlohmann::json(radius) : nlohmann::json(nullptr);
        j["slice"] = slice;
        if (!d.quantized.empty()) {
            const auto one = std::find(axis.begin(), axis.end(), 1.0);
            j["quantized_point"] = {{"t", 1.0},
                                    {"loss", one != axis.end() ? sliceValues[di][std::size_t(one - axis.begin())]
                                                               : lossAt(s, d, 1.0)}};
        }
        if (perLayer) {
            nlohmann::json lc = nlohmann::json::object();
            for (int l = 0; l < layers; ++l) {
                tick("curvature of layer " + std::to_string(l) + " along " + d.source);
                WeightDirection part; // empty outside --layer: the direction does not move that layer
                for (const auto& [name, x] : d.v) {
                    const WeightInfo* w = input.model.find(name);
                    if (w && w->layerIndex == l && (s.layer < 0 || l == s.layer)) part[name] = x;
                }
                const double v = part.empty() ? 0.0
                                               : curvatureAlong(lm, s.windows, s.scoreFrom, part, false, s.grad, s.quiet)
                                                     .curvature;
                layerCurv(l, Eigen::Index(di)) = v;
                lc["layer " + std::to_string(l)] = v;
            }
            j["layer_curvature"] = lc;
        }
        dirJson.push_back(j);
        if (di == 0) { // the first direction's figures at the top, as the curvature command has them
            out.summary["dir_deriv"] = c.dirDeriv;
            out.summary["curvature"] = c.curvature;
            out.summary["slice"] = slice;
            out.summary["tokens_scored"] = c.tokensScored;
        }
    }
    out.summary["loss"] = l0;
    out.summary["perplexity"] = std::exp(l0);
    out.summary["t"] = ts;
    out.summary["directions"] = dirJson;
    out.summary["layer"] = s.layer;
    if (perLayer) out.arrays["layer_curvature"] = layerCurv;

    if (dirs.size() > 1) {
        Eigen::MatrixXd grid(Eigen::Index(ts.size()), Eigen::Index(t2s.size()));
        nlohmann::json rows = nlohmann::json::array();
        for (std::size_t i = 0; i < ts.size(); ++i) {
            nlohmann::json row = nlohmann::json::array();
            for (std::size_t k = 0; k < t2s.size(); ++k) {
                tick("grid point " + tKey(ts[i]) + ", " + tKey(t2s[k]));
                double l;
                if (t2s[k] == 0)
                    l = sliceValues[0][i];
                else if (ts[i] == 0)
                    l = sliceValues[1][k];
                else
                    l = lossAlong(lm, s.windows, s.scoreFrom, combine(ts[i], dirs[0].v, t2s[k], dirs[1].v), 1.0, s.grad,
                                  s.quiet);
                grid(Eigen::Index(i), Eigen::Index(k)) = l;
                row.push_back(l);
            }
            rows.push_back(row);
        }
        out.summary["t2"] = t2s;
        out.summary["grid"] = rows;
        out.arrays["grid"] = grid;
    }

    std::vector<BlockEstimate> traces, eigens;
    if (p.at("trace").get<bool>()) {
        traces = hutchinsonTraces(lm, s.windows, s.scoreFrom, blocks, p.at("samples").get<int>(),
                                  p.at("seed").get<std::uint64_t>(), s.grad, job);
        out.summary["trace"] = blockEstimatesJson(traces, "std_error");
    }
    if (p.at("eigen").get<bool>()) {
        eigens = topEigenvalues(lm, s.windows, s.scoreFrom, blocks, p.at("iterations").get<int>(), 1e-3,
                                p.at("seed").get<std::uint64_t>(), s.grad, job);
        out.summary["eigen"] = blockEstimatesJson(eigens, "change");
    }
    auto estimatesMatrix = [](const std::vector<BlockEstimate>& es) {
        Eigen::MatrixXd m(Eigen::Index(es.size()), 2);
        for (std::size_t i = 0; i < es.size(); ++i) m.row(Eigen::Index(i)) << es[i].value, es[i].stdError;
        return m;
    };
    if (!traces.empty()) out.arrays["layer_trace"] = estimatesMatrix(traces);
    if (!eigens.empty()) out.arrays["layer_eigen"] = estimatesMatrix(eigens);
    // One row per decoder layer: what the per-layer bars show.
    for (int l = 0; l < layers; ++l) {
        nlohmann::json row = nlohmann::json::object();
        const std::string label = "layer " + std::to_string(l);
        if (perLayer)
            for (std::size_t di = 0; di < dirs.size(); ++di)
                row["curvature_" + std::to_string(di + 1)] = layerCurv(l, Eigen::Index(di));
        for (const auto& e : traces)
            if (e.label == label) {
                row["trace"] = e.value;
                row["trace_std_error"] = e.stdError;
            }
        for (const auto& e : eigens)
            if (e.label == label) row["eigen"] = e.value;
        if (!row.empty()) out.rows.emplace_back(label, row);
    }
    out.summary["seconds"] = secondsSince(start);
    job.step(total, total, "landscape");
    return out;
}

} // namespace qs::core
