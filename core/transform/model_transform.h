// SPDX-License-Identifier: MIT
#pragma once
#include "data/calib_data.h"
#include "base/job.h"
#include "model/model.h"
#include "nn/causal_lm.h"
#include "base/param_schema.h"
#include "quant/quant_spec.h"

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace qs::core {

/// Changes (or fake-quantizes) the input x [tokens, features] of site `site` (index into
/// CausalLm::layerSites(layer)) of decoder layer `layer` in place. Must be thread-safe (const data).
using SiteFn = std::function<void(int layer, int site, RowMatrixF& x)>;
/// Fake-quantizes K and V [tokens * kv_heads, head_dim] (after RoPE) of layer `layer` in place.
using KvFn = std::function<void(int layer, RowMatrixF& k, RowMatrixF& v)>;

/// A model in a changed basis: what a chain of ModelTransforms produces and weight quantizers then
/// quantize. The forward pass stays exact without quantization (replaced weights + online site
/// transforms); the quantizer factories say how activations / KV are quantized in the new basis.
struct TransformedModel {
    /// Replaced float32 weights in the model's stored layout (Linears, norm weights, ...).
    std::map<std::string, std::vector<float>> weights;
    /// Online basis change of site inputs (null: none). Runs before activation quantization.
    SiteFn siteTransform;
    /// Its adjoint (the backward pass's; orthogonal bases: the inverse). Set with siteTransform.
    SiteFn siteTransformTranspose;
    /// Given the user's activation spec, the site quantizer replacing it (null: the plain spec).
    std::function<SiteFn(const QuantSpec& activation)> activationQuantizer;
    /// Given the user's KV spec, the KV quantizer replacing it (null: the plain spec).
    std::function<KvFn(const QuantSpec& kv)> kvQuantizer;
    /// Mixed precision weights: weight name -> number of leading input columns (the high-variance
    /// subspace) quantized with highSpec(spec, highBits) instead of the weight spec.
    std::map<std::string, std::int64_t> highColumns;
    int highBits = 8;
    /// Dense online matrices (entries) the forward pass applies beyond the weights; Hadamards are
    /// generated from a seed and cost nothing.
    std::int64_t onlineParameters = 0;
    /// Whether the forward pass needs siteTransform / per-head KV rotations (a plain checkpoint
    /// written from `weights` would then be wrong).
    bool online = false;
    /// [{"name", params..., "notes"}] per applied transform (for recipes and reports).
    nlohmann::json applied = nlohmann::json::array();

    /// `user` (activation / KV specs) plus the online transforms and the subspace-aware quantizers.
    ForwardHooks hooks(const ForwardHooks& user = {}) const;
    /// The weight as [out, in] float32: the replaced value when present, else the model's.
    std::vector<float> weightOutIn(const Model& model, const std::string& name) const;
};

/// What a transform sees: the model, the result of the transforms before it, and the forward pass of
/// that result (its weights and site transforms, no quantization) for calibration statistics.
struct TransformInput {
    const Model& model;
    const CausalLm& lm;
    const CalibrationData* calibration = nullptr; ///< non-null when needsCalibration()
    JobContext job;
    /// >= 0: produce only this decoder layer's weights (with everything global: online transforms,
    /// notes), for drivers that hold one layer at a time; only for a perLayer() transform.
    int onlyLayer = -1;
    /// With onlyLayer and a calibrated transform: the calibration windows' residual stream entering
    /// the layer through the transformed, unquantized layers before it (one matrix per window); apply()
    /// takes its statistics there and advances it through the layer, as a whole-model pass would.
    std::vector<RowMatrixF>* layerStream = nullptr;
};

/// A change of basis of Linear inputs (SmoothQuant, rotations, ResQ), composable with any weight
/// quantizer and activation / KV format. Declared once in MethodRegistries::transforms.
class ModelTransform {
public:
    virtual ~ModelTransform() = default;
    /// Registry key, e.g. "rotate".
    virtual std::string_view name() const = 0;
    /// One line for --help.
    virtual std::string_view summary() const = 0;
    /// Parameters (recipe keys and CLI flags).
    virtual const ParamSchema& params() const = 0;
    /// True when calibration statistics are needed.
    virtual bool needsCalibration() const = 0;
    /// True when each decoder layer's weights depend on that layer alone: data-free, or (calibrated)
    /// on the calibration stream entering it, which the driver carries (TransformInput::layerStream).
    /// apply() with TransformInput::onlyLayer then makes one layer, and layer-major evaluation
    /// (--low-memory) can transform a model it never holds whole.
    virtual bool perLayer() const { return false; }
    /// Applies the transform on top of `model` (validated `params`). Throws Error for an
    /// architecture it cannot transform.
    virtual void apply(const TransformInput& in, const nlohmann::json& params, TransformedModel& model) const = 0;
};

/// One step of a recipe's "transforms" list.
struct TransformStep {
    std::string name;
    nlohmann::json params = nlohmann::json::object();
};

/// The spec for the high-precision subspace: `spec` with format int<bits> (fixed-block formats
/// switch to groups of their block size).
QuantSpec highSpec(const QuantSpec& spec, int bits);

} // namespace qs::core
