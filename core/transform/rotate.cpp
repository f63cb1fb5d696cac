// SPDX-License-Identifier: MIT
#include "transform/rotate.h"

#include "quant/fake_quant.h"
#include "base/error.h"
#include "transform/fold.h"
#include "transform/llama_layout.h"
#include "transform/rotation.h"

#include <memory>

namespace qs::core {

const ParamSchema& RotateTransform::params() const {
    static const ParamSchema schema{
        {"rotation", ParamType::Choice, "hadamard", 1, 0, {"hadamard", "orthogonal"},
         "randomized Hadamard (FWHT) or random orthogonal (QR of a seeded Gaussian)", "Rotation"},
        {"rotation_seed", ParamType::Int, 0, 0, 2147483647, {}, "seed of the random signs / Gaussian matrices",
         "Seed"},
        {"online_o", ParamType::Bool, true, 1, 0, {}, "rotate the o_proj input online (Hadamard over all heads)",
         "Online o_proj"},
        {"online_down", ParamType::Bool, true, 1, 0, {}, "rotate the down_proj input online", "Online down_proj"},
        {"rotate_kv", ParamType::Bool, true, 1, 0, {},
         "quantize K and V in a per-head rotated basis (rotated back after the KV quantization)", "Rotate KV"},
    };
    return schema;
}

void RotateTransform::apply(const TransformInput& in, const nlohmann::json& p, TransformedModel& model) const {
    if (model.activationQuantizer || !model.highColumns.empty())
        throw Error("rotate: cannot follow a mixed-precision transform (resq); put resq last");
    const auto layers = llamaLayers(in.lm, in.model, "rotate");
    const ModelConfig& cfg = in.model.config();
    const RotationKind kind = parseRotationKind(p.at("rotation").get<std::string>());
    const auto seed = static_cast<std::uint64_t>(p.at("rotation_seed").get<int>());
    const bool onlineO = p.at("online_o").get<bool>(), onlineDown = p.at("online_down").get<bool>();
    const std::int64_t qDim = static_cast<std::int64_t>(cfg.numHeads) * cfg.headDim;
    // One Q for the residual-stream inputs (QuaRot's R1), one per other input size; distinct seeds.
    auto r1 = std::make_shared<const Rotation>(Rotation::random(kind, cfg.hiddenSize, seed * 4 + 1));
    auto ro = std::make_shared<const Rotation>(Rotation::random(kind, qDim, seed * 4 + 2));
    auto rd = std::make_shared<const Rotation>(Rotation::random(kind, cfg.intermediateSize, seed * 4 + 3));
    auto rkv = std::make_shared<const Rotation>(Rotation::random(kind, cfg.headDim, seed * 4 + 4));

    for (std::size_t l = 0; l < layers.size(); ++l) {
        if (in.onlyLayer >= 0 && static_cast<int>(l) != in.onlyLayer) continue;
        in.job.step(static_cast<long long>(l), static_cast<long long>(layers.size()), "rotate layer " + std::to_string(l));
        const auto& n = layers[l];
        foldNormInto(in.model, model, n.attnNorm, n.qkv);
        foldNormInto(in.model, model, n.mlpNorm, n.gateUp);
        for (const auto* names : {&n.qkv, &n.gateUp})
            for (const auto& w : *names) rotateInputs(in.model, model, w, *r1);
        if (onlineO) rotateInputs(in.model, model, n.o, *ro);
        if (onlineDown) rotateInputs(in.model, model, n.down, *rd);
    }

    SiteFn before = model.siteTransform, beforeTranspose = model.siteTransformTranspose;
    auto rotationAt = [r1, ro, rd, onlineO, onlineDown](int site) {
        return site == 0 || site == 2 ? r1.get() : site == 1 ? (onlineO ? ro.get() : nullptr) : (onlineDown ? rd.get() : nullptr);
    };
    model.siteTransform = [before, rotationAt](int layer, int site, RowMatrixF& x) {
        if (before) before(layer, site, x);
        if (const Rotation* r = rotationAt(site)) r->apply(x.data(), x.rows());
    };
    // The adjoint: the orthogonal rotation's inverse, then the earlier transform's adjoint.
    model.siteTransformTranspose = [beforeTranspose, rotationAt](int layer, int site, RowMatrixF& x) {
        if (const Rotation* r = rotationAt(site)) r->apply(x.data(), x.rows(), true);
        if (beforeTranspose) beforeTranspose(layer, site, x);
    };
    model.online = true;
    if (p.at("rotate_kv").get<bool>())
        model.kvQuantizer = [rkv](const QuantSpec& spec) -> KvFn {
            return [rkv, spec](int, RowMatrixF& k, RowMatrixF& v) {
                // Scores q k^T and the attention output are unchanged: quantize K H, V H, rotate back.
                // K/V [tokens, kv_heads * head_dim] as [tokens * kv_heads, head_dim]: one vector per head,
                // one scale per token and head, as the unrotated KV quantization.
                for (RowMatrixF* m : {&k, &v}) {
                    const std::int64_t vectors = m->size() / rkv->size();
                    rkv->apply(m->data(), vectors);
                    fakeQuantize(m->data(), vectors, rkv->size(), spec, m->data());
                    rkv->apply(m->data(), vectors, true);
                }
            };
        };
    nlohmann::json applied = p;
    applied["name"] = "rotate";
    applied["notes"] = {{"qkv_gate_up", r1->describe()},
                        {"o_proj", onlineO ? ro->describe() : "none"},
                        {"down_proj", onlineDown ? rd->describe() : "none"},
                        {"kv_per_head", rkv->describe()}};
    model.applied.push_back(applied);
    for (const auto* r : {r1.get(), ro.get(), rd.get(), rkv.get()})
        if (!r->isHadamard()) model.onlineParameters += r->size() * r->size();
}

} // namespace qs::core
