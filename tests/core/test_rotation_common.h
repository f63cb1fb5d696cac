// SPDX-License-Identifier: MIT
#pragma once
// Shared fixture plumbing of the transform tests (rotate / smoothquant / resq) on the tiny Llama.
#include "data/calib_data.h"
#include "experiment/builtins.h"
#include "quant/model_quantizer.h"
#include "eval/perplexity.h"
#include "fixture_paths.h"
#include "io/npy.h"
#include "transform/transform_pipeline.h"

#include <cstdio>
#include <optional>

namespace qs::test {

inline const core::Model& tfModel() {
    static const auto model = core::openModel(tinyLlama());
    return *model;
}
inline const core::CausalLm& tfLm() {
    static const core::CausalLm lm(tfModel());
    return lm;
}
inline const core::Registries& tfRegistries() {
    static const core::Registries r = [] {
        core::Registries reg;
        core::registerBuiltins(reg);
        return reg;
    }();
    return r;
}
/// calib.txt, 32 windows of 128 tokens (the GPTQ protocol).
inline const core::CalibrationData& tfCalibration() {
    static const core::CalibrationData d =
        core::loadCalibrationData(fixtures() / "corpus" / "calib.txt", tfModel().path(), 128, 32);
    return d;
}
/// The perplexity windows of test.txt (ref_test_tokens.npy, 64 x 128).
inline const std::vector<std::int32_t>& tfTestTokens() {
    static const std::vector<std::int32_t> ids = [] {
        const core::Tensor t = core::readNpy(tinyLlama() / "ref_test_tokens.npy");
        return std::vector<std::int32_t>(t.data<std::int32_t>(), t.data<std::int32_t>() + t.numel());
    }();
    return ids;
}
/// Windows evaluated by these tests (of 64): all of them, the fixture's perplexity protocol.
constexpr long long kTfWindows = 64;

inline core::QuantSpec tfSpec(core::FormatId f, core::Granularity g, int group = 128) {
    core::QuantSpec s;
    s.format = f;
    s.granularity = g;
    s.groupSize = group;
    s.symmetric = true;
    return s;
}

/// A configuration: transforms, weight spec (none = fp32 weights), activation and KV specs.
struct TfRun {
    std::vector<core::TransformStep> transforms;
    std::optional<core::QuantSpec> weights;
    std::optional<core::QuantSpec> activation, kv;
    std::string method = "rtn";
};

struct TfResult {
    double perplexity = 0;
    double bitsPerWeight = 0;
};

inline TfResult tfEvaluate(const TfRun& run, const char* label) {
    std::map<std::string, std::vector<float>> replaced;
    std::shared_ptr<const core::TransformedModel> transformed;
    TfResult out;
    if (run.weights) {
        core::QuantJob job;
        job.method = run.method;
        job.spec = *run.weights;
        job.transforms = run.transforms;
        auto q = core::quantizeModel(tfModel(), tfRegistries(), job, {}, true, {}, &tfCalibration());
        replaced = std::move(q.weights);
        transformed = q.transformed;
        out.bitsPerWeight = q.bitsPerWeight;
    } else if (!run.transforms.empty()) {
        auto t = core::applyTransforms(tfModel(), tfRegistries().transforms, run.transforms, &tfCalibration(), {});
        replaced = t.weights;
        transformed = std::make_shared<const core::TransformedModel>(std::move(t));
    }
    core::CausalLm lm(tfLm(), std::move(replaced));
    core::ForwardHooks user;
    user.activation = run.activation;
    user.kvCache = run.kv;
    lm.setHooks(transformed ? transformed->hooks(user) : user);
    core::EvalOptions opts;
    opts.maxWindows = kTfWindows;
    out.perplexity = core::evaluatePerplexity(lm, tfTestTokens(), opts, {}).perplexity;
    std::printf("[ ppl      ] %-44s ppl %9.4f  dppl %+9.4f  (%.3f bits/weight)\n", label, out.perplexity,
                out.perplexity - 8.458817, out.bitsPerWeight);
    return out;
}

/// Max |logit difference| of the transformed, unquantized model against fp32 on one test window.
inline double tfInvarianceError(const std::vector<core::TransformStep>& steps) {
    const auto t = core::applyTransforms(tfModel(), tfRegistries().transforms, steps, &tfCalibration(), {});
    core::CausalLm lm(tfLm(), t.weights);
    lm.setHooks(t.hooks());
    const std::span<const std::int32_t> window(tfTestTokens().data(), 128);
    const double err = (lm.forward(window) - tfLm().forward(window)).cwiseAbs().maxCoeff();
    std::printf("[ invariant] %-44s max |logit diff| %.3g\n", steps.empty() ? "" : (steps[0].name + " " + steps[0].params.dump()).c_str(), err);
    return err;
}

} // namespace qs::test
