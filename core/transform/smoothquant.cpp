// SPDX-License-Identifier: MIT
#include "transform/smoothquant.h"

#include "calib/collect_stats.h"
#include "base/error.h"
#include "transform/llama_layout.h"
#include "transform/transform_math.h"

#include <algorithm>

namespace qs::core {
namespace {

// Max |W| per input column over several Linears sharing one input.
std::vector<double> inputColumnMax(const Model& base, const TransformedModel& m, const std::vector<std::string>& names,
                                   std::int64_t cols) {
    std::vector<double> mx(static_cast<std::size_t>(cols), 0.0);
    for (const auto& n : names) {
        const auto w = m.weightOutIn(base, n);
        columnAbsMax(w, static_cast<std::int64_t>(w.size()) / cols, cols, mx);
    }
    return mx;
}

void scaleInputs(const Model& base, TransformedModel& m, const std::string& name, const std::vector<float>& s) {
    auto w = m.weightOutIn(base, name);
    const auto cols = static_cast<std::int64_t>(s.size());
    scaleColumns(w, static_cast<std::int64_t>(w.size()) / cols, cols, s);
    m.weights[name] = std::move(w);
}

// Output rows (and bias) of `name` divided by s.
void divideOutputs(const Model& base, TransformedModel& m, const std::string& name, const std::vector<float>& s) {
    std::vector<float> inv(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) inv[i] = 1.0f / s[i];
    auto w = m.weightOutIn(base, name);
    const auto rows = static_cast<std::int64_t>(s.size());
    scaleRows(w, rows, static_cast<std::int64_t>(w.size()) / rows, inv);
    m.weights[name] = std::move(w);
    if (const std::string b = biasOf(base, name); !b.empty()) {
        auto bias = m.weightOutIn(base, b);
        scaleRows(bias, rows, 1, inv);
        m.weights[b] = std::move(bias);
    }
}

} // namespace

const ParamSchema& SmoothQuantTransform::params() const {
    static const ParamSchema schema{
        {"alpha", ParamType::Float, 0.5, 0.0, 1.0, {},
         "migration strength: s = max|X|^alpha / max|W|^(1 - alpha)", "Alpha"},
    };
    return schema;
}

void SmoothQuantTransform::apply(const TransformInput& in, const nlohmann::json& p, TransformedModel& model) const {
    if (model.online || model.activationQuantizer)
        throw Error("smoothquant: must come before online transforms (rotate, resq): its scales fold into "
                    "the norms, which run before any online rotation");
    if (!in.calibration) throw Error("smoothquant needs calibration data: give --calib FILE");
    if (in.onlyLayer >= 0 && !in.layerStream)
        throw Error("smoothquant one layer at a time needs the calibration windows' residual stream entering the layer");
    const auto layers = llamaLayers(in.lm, in.model, "smoothquant");
    const double alpha = p.at("alpha").get<double>();
    const ModelConfig& cfg = in.model.config();
    // Every layer's input maxima from one pass of the windows, or (a layer-major driver) one layer's
    // from the stream entering it, advanced through the layer: the smoothing changes no output.
    const std::vector<LinearInputStats> stats =
        in.onlyLayer < 0 ? collectModelStats(in.lm, *in.calibration, false, in.job)
                         : advanceLayerStats(in.lm, in.onlyLayer, *in.layerStream, false, in.job);
    if (stats.size() != (in.onlyLayer < 0 ? layers.size() : 1) * 4) throw Error("smoothquant: calibration statistics miss some sites");
    const int hd = cfg.headDim, group = cfg.numHeads / cfg.numKvHeads;

    for (std::size_t l = 0; l < layers.size(); ++l) {
        if (in.onlyLayer >= 0 && static_cast<int>(l) != in.onlyLayer) continue;
        const auto& n = layers[l];
        const std::size_t first = in.onlyLayer < 0 ? l * 4 : 0; // this layer's first site in `stats`
        auto st = [&](int s) -> const LinearInputStats& { return stats[first + static_cast<std::size_t>(s)]; };
        // Sites after an RMSNorm: gamma / s and W diag(s).
        for (int s : {0, 2}) {
            const auto& names = s == 0 ? n.qkv : n.gateUp;
            const std::string& norm = s == 0 ? n.attnNorm : n.mlpNorm;
            const auto cols = st(s).features;
            const auto scales = smoothQuantScales(st(s).absMax, inputColumnMax(in.model, model, names, cols), alpha);
            for (const auto& w : names) scaleInputs(in.model, model, w, scales);
            auto gamma = model.weightOutIn(in.model, norm);
            for (std::size_t j = 0; j < gamma.size(); ++j) gamma[j] /= scales[j];
            model.weights[norm] = std::move(gamma);
        }
        // o_proj input channel h*hd + d comes from v_proj row g*hd + d (g = h / group): one scale per
        // KV channel, from the maxima over the query heads sharing it.
        {
            const auto& ax = st(1).absMax;
            const auto wx = inputColumnMax(in.model, model, {n.o}, st(1).features);
            const int kvDim = cfg.numKvHeads * hd;
            std::vector<double> a(static_cast<std::size_t>(kvDim), 0.0), w(static_cast<std::size_t>(kvDim), 0.0);
            for (int h = 0; h < cfg.numHeads; ++h)
                for (int d = 0; d < hd; ++d) {
                    const auto src = static_cast<std::size_t>(h * hd + d), dst = static_cast<std::size_t>((h / group) * hd + d);
                    a[dst] = std::max(a[dst], ax[src]);
                    w[dst] = std::max(w[dst], wx[src]);
                }
            const auto kvScales = smoothQuantScales(a, w, alpha);
            std::vector<float> oScales(static_cast<std::size_t>(cfg.numHeads * hd));
            for (int h = 0; h < cfg.numHeads; ++h)
                for (int d = 0; d < hd; ++d)
                    oScales[static_cast<std::size_t>(h * hd + d)] = kvScales[static_cast<std::size_t>((h / group) * hd + d)];
            scaleInputs(in.model, model, n.o, oScales);
            divideOutputs(in.model, model, n.qkv.at(2), kvScales);
        }
        // down_proj input = silu(gate) * up: divide the up rows.
        {
            const auto scales =
                smoothQuantScales(st(3).absMax, inputColumnMax(in.model, model, {n.down}, st(3).features), alpha);
            scaleInputs(in.model, model, n.down, scales);
            divideOutputs(in.model, model, n.gateUp.at(1), scales);
        }
    }
    nlohmann::json applied = p;
    applied["name"] = "smoothquant";
    applied["notes"] = {{"folded", "q/k/v, gate/up -> RMSNorm; o_proj -> v_proj rows (GQA-tied); down_proj -> up_proj rows"},
                        {"online", "none"}};
    model.applied.push_back(applied);
}

} // namespace qs::core
