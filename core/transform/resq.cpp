// SPDX-License-Identifier: MIT
#include "transform/resq.h"

#include "calib/collect_stats.h"
#include "base/error.h"
#include "transform/fold.h"
#include "transform/llama_layout.h"
#include "transform/rotation.h"
#include "transform/transform_math.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>

namespace qs::core {
namespace {

// P diag(R_high, R_low): principal directions first, then a random rotation inside each subspace.
Eigen::MatrixXf subspaceBasis(const Eigen::MatrixXd& secondMoment, std::int64_t high, RotationKind kind,
                              std::uint64_t seed) {
    const std::int64_t n = secondMoment.rows();
    const Eigen::MatrixXd p = principalBasis(secondMoment);
    Eigen::MatrixXd r = Eigen::MatrixXd::Zero(n, n);
    if (high > 0) r.topLeftCorner(high, high) = Rotation::random(kind, high, seed).matrix().cast<double>();
    if (n - high > 0)
        r.bottomRightCorner(n - high, n - high) = Rotation::random(kind, n - high, seed + 1).matrix().cast<double>();
    return (p * r).cast<float>();
}

std::int64_t highCount(double fraction, std::int64_t n) {
    return std::clamp<std::int64_t>(std::llround(fraction * static_cast<double>(n)), 0, n);
}

// Per KV head sum of k k^T (after RoPE) and v v^T, accumulated by a kvQuantize hook that changes nothing.
struct KvMoments {
    int kvHeads = 0, headDim = 0;
    std::vector<Eigen::MatrixXd> k, v; ///< [layer * kvHeads + head]
    std::vector<std::int64_t> rows;    ///< tokens per layer
    std::mutex mutex;

    // K and V arrive as [tokens, kv_heads * head_dim]: head g of token t is columns g*hd .. g*hd+hd-1.
    void add(int layer, const RowMatrixF& km, const RowMatrixF& vm) {
        const std::lock_guard lock(mutex);
        const std::int64_t tokens = km.rows();
        for (int g = 0; g < kvHeads; ++g) {
            const Eigen::MatrixXd kh = km.middleCols(g * headDim, headDim).cast<double>();
            const Eigen::MatrixXd vh = vm.middleCols(g * headDim, headDim).cast<double>();
            k[static_cast<std::size_t>(layer * kvHeads + g)].noalias() += kh.transpose() * kh;
            v[static_cast<std::size_t>(layer * kvHeads + g)].noalias() += vh.transpose() * vh;
        }
        rows[static_cast<std::size_t>(layer)] += tokens;
    }
};

// One KV head of m [tokens, heads * head_dim] (columns g*hd .. g*hd+hd-1) through `f` as [tokens, head_dim].
template <class F> void perHead(RowMatrixF& m, int heads, F&& f) {
    const std::int64_t hd = m.cols() / heads;
    RowMatrixF h(m.rows(), hd);
    for (int g = 0; g < heads; ++g) {
        h = m.middleCols(g * hd, hd);
        f(g, h);
        m.middleCols(g * hd, hd) = h;
    }
}

} // namespace

const ParamSchema& ResqTransform::params() const {
    static const ParamSchema schema{
        {"high_fraction", ParamType::Float, 0.125, 0.0, 1.0, {},
         "share of each input's PCA subspace kept at high precision", "High fraction"},
        {"high_bits", ParamType::Int, 8, 2, 8, {}, "bits (int) of the high-precision subspace", "High bits"},
        {"rotation", ParamType::Choice, "hadamard", 1, 0, {"hadamard", "orthogonal"},
         "random rotation inside each subspace", "Rotation"},
        {"rotation_seed", ParamType::Int, 0, 0, 2147483647, {}, "seed of the random rotations", "Seed"},
        {"rotate_kv", ParamType::Bool, true, 1, 0, {}, "mixed-precision PCA basis per K/V head", "Rotate KV"},
    };
    return schema;
}

void ResqTransform::apply(const TransformInput& in, const nlohmann::json& p, TransformedModel& model) const {
    if (model.online || model.activationQuantizer)
        throw Error("resq: must come before online transforms (its PCA bases are computed after folding the norms)");
    if (!in.calibration) throw Error("resq needs calibration data: give --calib FILE");
    if (in.onlyLayer >= 0 && !in.layerStream)
        throw Error("resq one layer at a time needs the calibration windows' residual stream entering the layer");
    const auto layers = llamaLayers(in.lm, in.model, "resq");
    const ModelConfig& cfg = in.model.config();
    const double fraction = p.at("high_fraction").get<double>();
    const int highBits = p.at("high_bits").get<int>();
    const RotationKind kind = parseRotationKind(p.at("rotation").get<std::string>());
    const auto seed = static_cast<std::uint64_t>(p.at("rotation_seed").get<int>());
    const bool kv = p.at("rotate_kv").get<bool>();
    const std::int64_t online = model.onlineParameters; // before this transform's
    // The layers this call transforms: all, or (layer-major drivers) one.
    const auto inScope = [&](std::size_t l) { return in.onlyLayer < 0 || static_cast<int>(l) == in.onlyLayer; };

    // 1. Fold the norms, so the statistics are those of the inputs the bases will rotate.
    std::map<std::string, std::vector<float>> folded;
    for (std::size_t l = 0; l < layers.size(); ++l) {
        if (!inScope(l)) continue;
        const auto& n = layers[l];
        foldNormInto(in.model, model, n.attnNorm, n.qkv);
        foldNormInto(in.model, model, n.mlpNorm, n.gateUp);
        for (const auto* names : {&n.qkv, &n.gateUp})
            for (const auto& w : *names) folded[w] = model.weights.at(w);
        folded[n.attnNorm] = model.weights.at(n.attnNorm);
        folded[n.mlpNorm] = model.weights.at(n.mlpNorm);
    }
    CausalLm lm(in.lm, std::move(folded));
    // 2. Site second moments and per-head K/V second moments in one calibration pass: every window
    // through the whole folded model, or the stream entering the one layer (advanced through it, as the
    // whole-model pass would carry it).
    auto moments = std::make_shared<KvMoments>();
    moments->kvHeads = cfg.numKvHeads;
    moments->headDim = cfg.headDim;
    const auto nl = static_cast<std::size_t>(lm.numLayers());
    moments->k.assign(nl * static_cast<std::size_t>(cfg.numKvHeads), Eigen::MatrixXd::Zero(cfg.headDim, cfg.headDim));
    moments->v = moments->k;
    moments->rows.assign(nl, 0);
    ForwardHooks observe = lm.hooks();
    observe.kvQuantize = [moments](int layer, RowMatrixF& k, RowMatrixF& v) { moments->add(layer, k, v); };
    lm.setHooks(observe);
    const std::vector<LinearInputStats> stats =
        in.onlyLayer < 0 ? collectModelStats(lm, *in.calibration, true, in.job)
                         : advanceLayerStats(lm, in.onlyLayer, *in.layerStream, true, in.job);
    if (stats.size() != (in.onlyLayer < 0 ? layers.size() : 1) * 4) throw Error("resq: calibration statistics miss some sites");

    // 3. Site bases: weights W U, inputs x U online (by layer * 4 + site).
    auto bases = std::make_shared<std::map<std::size_t, Rotation>>();
    auto highs = std::make_shared<std::map<std::size_t, std::int64_t>>();
    nlohmann::json kept = nlohmann::json::array();
    for (std::size_t l = 0, next = 0; l < layers.size(); ++l) {
        if (!inScope(l)) continue;
        const auto& n = layers[l];
        const std::vector<std::string> siteWeights[4] = {n.qkv, {n.o}, n.gateUp, {n.down}};
        for (int s = 0; s < 4; ++s) {
            const LinearInputStats& st = stats[next++];
            if (st.samples == 0 || st.xtx.rows() != st.features) throw Error("resq: no calibration statistics for " + st.site);
            const std::int64_t high = highCount(fraction, st.features);
            const Eigen::MatrixXd m = st.xtx / static_cast<double>(st.samples);
            Rotation u = Rotation::dense(subspaceBasis(m, high, kind, seed * 1000003 + l * 16 + static_cast<std::uint64_t>(s) * 2));
            for (const auto& w : siteWeights[s]) {
                rotateInputs(in.model, model, w, u);
                model.highColumns[w] = high;
            }
            Eigen::VectorXd ev;
            principalBasis(m, &ev);
            const double total = ev.sum();
            kept.push_back({{"site", st.site}, {"high", high}, {"features", st.features},
                            {"energy_high", total > 0 ? ev.head(high).sum() / total : 0.0}});
            model.onlineParameters += st.features * st.features;
            bases->emplace(l * 4 + static_cast<std::size_t>(s), std::move(u));
            highs->emplace(l * 4 + static_cast<std::size_t>(s), high);
        }
    }
    model.highBits = highBits;
    model.online = true;
    model.siteTransform = [bases](int layer, int site, RowMatrixF& x) {
        bases->at(static_cast<std::size_t>(layer * 4 + site)).apply(x.data(), x.rows());
    };
    model.siteTransformTranspose = [bases](int layer, int site, RowMatrixF& x) {
        bases->at(static_cast<std::size_t>(layer * 4 + site)).apply(x.data(), x.rows(), true);
    };
    model.activationQuantizer = [highs, highBits](const QuantSpec& spec) -> SiteFn {
        const QuantSpec hi = highSpec(spec, highBits);
        return [highs, hi, spec](int layer, int site, RowMatrixF& x) {
            fakeQuantizeSplit(x.data(), x.rows(), x.cols(), highs->at(static_cast<std::size_t>(layer * 4 + site)), hi, spec);
        };
    };

    // 4. K/V: a per-head basis from the K (after RoPE) / V second moments; quantize there, rotate back.
    if (kv) {
        const std::int64_t hd = cfg.headDim, highKv = highCount(fraction, hd);
        const auto heads = static_cast<std::size_t>(cfg.numKvHeads);
        auto kb = std::make_shared<std::map<std::size_t, Rotation>>(), vb = std::make_shared<std::map<std::size_t, Rotation>>();
        for (std::size_t i = 0; i < moments->k.size(); ++i) {
            if (!inScope(i / heads)) continue;
            const double rows = static_cast<double>(std::max<std::int64_t>(1, moments->rows[i / heads]));
            kb->emplace(i, Rotation::dense(subspaceBasis(moments->k[i] / rows, highKv, kind, seed * 7919 + i * 4)));
            vb->emplace(i, Rotation::dense(subspaceBasis(moments->v[i] / rows, highKv, kind, seed * 7919 + i * 4 + 2)));
            model.onlineParameters += 2 * hd * hd;
        }
        const int nh = cfg.numKvHeads;
        model.kvQuantizer = [kb, vb, nh, highKv, highBits](const QuantSpec& spec) -> KvFn {
            const QuantSpec hi = highSpec(spec, highBits);
            return [kb, vb, nh, highKv, hi, spec](int layer, RowMatrixF& k, RowMatrixF& v) {
                for (auto mb : {std::pair{&k, kb.get()}, std::pair{&v, vb.get()}}) {
                    // Not a structured binding: lambdas cannot capture those before clang 16.
                    const std::map<std::size_t, Rotation>* b = mb.second;
                    perHead(*mb.first, nh, [&](int g, RowMatrixF& h) {
                        const Rotation& u = b->at(static_cast<std::size_t>(layer * nh + g));
                        u.apply(h.data(), h.rows());
                        fakeQuantizeSplit(h.data(), h.rows(), h.cols(), highKv, hi, spec);
                        u.apply(h.data(), h.rows(), true);
                    });
                }
            };
        };
    }
    // One layer of a layer-major driver counts the whole model's online matrices (every decoder
    // layer has this layer's shapes); its notes list this layer's sites, which the driver joins.
    if (in.onlyLayer >= 0) model.onlineParameters += (model.onlineParameters - online) * (std::int64_t(layers.size()) - 1);
    nlohmann::json applied = p;
    applied["name"] = "resq";
    applied["notes"] = {{"basis", "eigenvectors of X^T X / n (uncentred), descending"}, {"sites", kept}};
    model.applied.push_back(applied);
}

} // namespace qs::core
