// SPDX-License-Identifier: MIT
// quantscope-cli grad: the loss and its gradient for every weight, optionally through a recipe's
// fake-quantized model (straight-through).
#include "cli_params.h"
#include "commands.h"
#include "data/calib_data.h"
#include "grad_inputs.h"
#include "io/safetensors.h"
#include "quant/model_quantizer.h"

#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>

namespace qs::cli {

std::string gradUsage(const CliContext& ctx) {
    return "quantscope-cli grad MODEL --data FILE [--ctx N] [--windows N] [--recipe R.json | --method M spec\n"
           "                   flags [--calib FILE [--calib-windows N]]] [--act-quant Q] [--kv-quant Q]\n"
           "                   [--out G.safetensors] [--float64] [--recompute] [--json]\n"
           "  The mean next-token NLL over the scored tokens of --data's windows (eval's protocol) and its\n"
           "  gradient with respect to every floating-point weight (norms, embeddings and head included).\n"
           "  With a recipe the model is the fake-quantized one and the gradient is dL/dW at the quantized\n"
           "  weights (straight-through); activation and KV fake quantization pass gradients straight\n"
           "  through. Recipes with rotations or ResQ are refused.\n\n" +
           gradFlagsHelp() +
           "  --out FILE       write every gradient to a safetensors file (float32, stored names and shapes)\n"
           "  --calib FILE     calibration data for calibrated methods (gptq), --calib-windows N (default 128)\n\n"
           "  JSON: loss, perplexity, tokens_scored, grad_norms {weight: L2 norm}, grad_norm (all weights),\n"
           "  peak_activation_bytes, seconds\n\n" +
           quantizationHelp(ctx.registries);
}

nlohmann::json runGrad(ArgList& args, CliContext& ctx) {
    GradInputs in = takeGradFlags(args, "grad");
    const auto out = args.takeOption("out");
    const auto calibFile = args.takeOption("calib");
    const auto calibWindowsFlag = args.takeOption("calib-windows");
    const core::Recipe recipe = takeRecipe(args, ctx.registries, "grad", true);
    openGradInputs(in, args, "grad");

    nlohmann::json j = gradInputsJson(in);
    std::map<std::string, std::vector<float>> replaced;
    std::optional<core::ModelQuantResult> quant;
    if (recipe.quantizeWeights) {
        std::optional<core::CalibrationData> calib;
        if (calibFile) {
            const int calibWindows = calibWindowsFlag ? std::stoi(*calibWindowsFlag) : 128;
            calib = core::loadCalibrationData(*calibFile, in.model->path(), in.eval.ctx, calibWindows);
        }
        quant = core::quantizeModel(*in.model, ctx.registries, recipe.job, ctx.job, true, {}, calib ? &*calib : nullptr);
        replaced = std::move(quant->weights);
    }
    core::CausalLm lm(*in.model, std::move(replaced), ctx.job);
    core::ForwardHooks hooks;
    hooks.activation = recipe.activation;
    hooks.kvCache = recipe.kvCache;
    lm.setHooks(quant ? quant->hooks(hooks) : hooks);

    const core::LossGradient g = core::lossGradient(lm, in.windows, in.eval.scoreFrom, in.grad, ctx.job);
    nlohmann::json norms = nlohmann::json::object();
    double total = 0;
    for (std::size_t i = 0; i < g.names.size(); ++i) {
        double sq = 0;
        for (float x : g.gradients[i]) sq += static_cast<double>(x) * x;
        norms[g.names[i]] = std::sqrt(sq);
        total += sq;
    }
    if (out) {
        std::vector<std::pair<std::string, core::Tensor>> tensors;
        for (std::size_t i = 0; i < g.names.size(); ++i) {
            const core::WeightInfo* w = in.model->find(g.names[i]);
            const core::Shape shape = w ? w->shape : core::Shape{static_cast<std::int64_t>(g.gradients[i].size())};
            tensors.emplace_back(g.names[i], core::Tensor::fromFloats(shape, g.gradients[i]));
        }
        core::writeSafetensors(*out, tensors, {{"format", "pt"}, {"content", "quantscope gradient dL/dW"}});
        j["out"] = *out;
    }
    if (quant) {
        j["recipe"] = quant->job.toJson();
        j["bits_per_weight"] = quant->bitsPerWeight;
    }
    if (hooks.activation) j["activation"] = hooks.activation->toJson();
    if (hooks.kvCache) j["kv_cache"] = hooks.kvCache->toJson();
    j["loss"] = g.loss;
    j["perplexity"] = std::exp(g.loss);
    j["tokens_scored"] = g.tokensScored;
    j["grad_norms"] = norms;
    j["grad_norm"] = std::sqrt(total);
    j["float64"] = in.grad.float64;
    j["recompute"] = in.grad.recompute;
    j["peak_activation_bytes"] = g.peakActivationBytes;
    j["seconds"] = g.seconds;

    if (!ctx.json) {
        std::printf("model        %s\ndata         %s: %zu windows x %d tokens, %lld scored\n",
                    in.model->path().string().c_str(), in.dataPath.c_str(), in.windows.size(), in.eval.ctx,
                    g.tokensScored);
        std::printf("loss         %.8f (perplexity %.6f)\ngrad norm    %.6g over %zu weights\n", g.loss,
                    std::exp(g.loss), std::sqrt(total), g.names.size());
        for (std::size_t i = 0; i < g.names.size(); ++i)
            std::printf("  %-52s %.6g\n", g.names[i].c_str(), norms[g.names[i]].get<double>());
        std::printf("time         %.2f s, activations %.1f MiB%s\n", g.seconds,
                    static_cast<double>(g.peakActivationBytes) / (1 << 20), out ? (", wrote " + *out).c_str() : "");
    }
    return j;
}

} // namespace qs::cli
