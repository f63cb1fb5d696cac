// SPDX-License-Identifier: MIT
// quantscope-cli curvature: the loss's slope and exact curvature along a direction in weight space,
// a slice of the loss along it, and per-layer Hessian trace / top eigenvalue estimates.
#include "cli_params.h"
#include "commands.h"
#include "data/calib_data.h"
#include "grad_inputs.h"
#include "io/safetensors.h"
#include "analysis/landscape.h"
#include "analysis/weight_directions.h"

#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>

namespace qs::cli {

std::string curvatureUsage(const CliContext&) {
    return "quantscope-cli curvature MODEL --data FILE [--ctx N] [--windows N]\n"
           "                   [--direction recipe:R.json|file:V.safetensors|random:SEED] [--t LIST]\n"
           "                   [--trace [--samples N]] [--eigen [--iterations N]] [--seed N] [--json]\n"
           "  The loss L (eval's protocol) along W + t·v: its slope g·v and its exact curvature vᵀHv at t = 0\n"
           "  (forward-over-reverse: the backward pass on dual numbers W + ε·v, no step size), and L at each t.\n"
           "  --direction recipe:R.json   v = Q(W) − W, Q the recipe's quantized weights (rotations refused)\n"
           "              file:V.safetensors  any tensors named as the model's weights (others 0)\n"
           "              random:SEED         a filter-normalised Gaussian direction (Li et al. 2018): each\n"
           "                                  row of a matrix scaled to the norm of the weight's row; 0 on\n"
           "                                  norms and biases\n"
           "  --t LIST         comma-separated t values for the slice (default -1,-0.5,0.5,1,2)\n"
           "  --trace          per decoder layer, Hutchinson estimates of tr(H) (Rademacher probes over\n"
           "                   every weight; --samples N, default 16) with their standard errors\n"
           "  --eigen          per decoder layer, the top Hessian eigenvalue by power iteration\n"
           "                   (--iterations N, default 20, stopping at 1e-3 relative change)\n"
           "  --seed N         seed of the probes and starting vectors (default 0)\n"
           "  --calib FILE     calibration data for a calibrated recipe (gptq), --calib-windows N\n" +
           gradFlagsHelp() +
           "\n  JSON: loss, dir_deriv, curvature, slice {t: loss}, direction {source, l2_norm}; trace and eigen\n"
           "  {layer: {value, std_error | change, steps}}\n";
}

namespace {

int positiveInt(const std::optional<std::string>& text, int def, const char* flag) {
    if (!text) return def;
    try {
        const int v = std::stoi(*text);
        if (v >= 1) return v;
    } catch (const std::exception&) {
    }
    throw core::Error(std::string("curvature: --") + flag + " " + *text + ": expected a whole number >= 1");
}

core::WeightDirection recipeDirection(const core::Model& model, const std::string& file, CliContext& ctx,
                                      const std::optional<std::string>& calibFile, int calibWindows, int evalCtx) {
    const core::Recipe recipe = core::loadRecipeFile(file, ctx.registries);
    std::optional<core::CalibrationData> calib;
    if (calibFile) calib = core::loadCalibrationData(*calibFile, model.path(), evalCtx, calibWindows);
    return core::recipeDirection(model, recipe, ctx.registries, calib ? &*calib : nullptr, "curvature: " + file, ctx.job);
}

core::WeightDirection fileDirection(const std::string& file) {
    const core::SafetensorsFile f = core::SafetensorsFile::open(file);
    core::WeightDirection v;
    for (const core::SafetensorsEntry& e : f.entries()) {
        const core::Tensor t = f.tensor(e.name);
        v[e.name] = t.toFloats();
    }
    if (v.empty()) throw core::Error("curvature: " + file + " holds no tensor");
    return v;
}

std::string tKey(double t) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", t);
    return buf;
}

} // namespace

nlohmann::json runCurvature(ArgList& args, CliContext& ctx) {
    GradInputs in = takeGradFlags(args, "curvature");
    const auto direction = args.takeOption("direction");
    const std::vector<double> ts = core::parseNumberList(args.takeOption("t").value_or("-1,-0.5,0.5,1,2"), "curvature --t");
    const bool trace = args.takeFlag("trace");
    const bool eigen = args.takeFlag("eigen");
    const int samples = positiveInt(args.takeOption("samples"), 16, "samples");
    const int iterations = positiveInt(args.takeOption("iterations"), 20, "iterations");
    const auto seedText = args.takeOption("seed");
    const auto calibFile = args.takeOption("calib");
    const int calibWindows = positiveInt(args.takeOption("calib-windows"), 128, "calib-windows");
    std::uint64_t seed = 0;
    if (seedText) {
        try {
            seed = std::stoull(*seedText);
        } catch (const std::exception&) {
            throw core::Error("curvature: --seed " + *seedText + ": expected a whole number >= 0");
        }
    }
    if (!direction && !trace && !eigen)
        throw core::Error("curvature: give --direction recipe:R.json|file:V.safetensors|random:SEED, --trace or --eigen");
    openGradInputs(in, args, "curvature");
    const core::CausalLm lm(*in.model, {}, ctx.job);
    nlohmann::json j = gradInputsJson(in);
    j["float64"] = in.grad.float64;

    if (direction) {
        const auto colon = direction->find(':');
        const std::string kind = direction->substr(0, colon), arg = colon == std::string::npos ? "" : direction->substr(colon + 1);
        core::WeightDirection v;
        if (kind == "recipe" && !arg.empty()) {
            v = recipeDirection(*in.model, arg, ctx, calibFile, calibWindows, in.eval.ctx);
        } else if (kind == "file" && !arg.empty()) {
            v = fileDirection(arg);
        } else if (kind == "random" && !arg.empty()) {
            try {
                v = core::randomDirection(*in.model, lm, std::stoull(arg));
            } catch (const std::logic_error&) {
                throw core::Error("curvature: --direction random:" + arg + ": the seed must be a whole number");
            }
        } else {
            throw core::Error("curvature: --direction " + *direction +
                              ": expected recipe:R.json, file:V.safetensors or random:SEED");
        }
        double sq = 0;
        for (const auto& [name, x] : v)
            for (float e : x) sq += static_cast<double>(e) * e;
        const core::DirectionalCurvature c =
            core::curvatureAlong(lm, in.windows, in.eval.scoreFrom, v, false, in.grad, ctx.job);
        nlohmann::json slice = nlohmann::json::object();
        for (double t : ts)
            slice[tKey(t)] = core::lossAlong(lm, in.windows, in.eval.scoreFrom, v, t, in.grad, ctx.job);
        j["direction"] = {{"source", *direction}, {"l2_norm", std::sqrt(sq)}, {"weights", v.size()}};
        j["loss"] = c.loss;
        j["perplexity"] = std::exp(c.loss);
        j["tokens_scored"] = c.tokensScored;
        j["dir_deriv"] = c.dirDeriv;
        j["curvature"] = c.curvature;
        j["slice"] = slice;
        j["seconds"] = c.seconds;
        if (!ctx.json) {
            std::printf("direction    %s (|v| = %.6g over %zu weights)\nloss         %.8f\ng·v          %.8g\n"
                        "vᵀHv         %.8g\nslice       ",
                        direction->c_str(), std::sqrt(sq), v.size(), c.loss, c.dirDeriv, c.curvature);
            for (double t : ts) std::printf(" L(%s) = %.8f", tKey(t).c_str(), slice[tKey(t)].get<double>());
            std::printf("\n");
        }
    }
    if (trace || eigen) {
        const core::WeightBlocks blocks = core::layerBlocks(*in.model, lm);
        if (trace) {
            const auto es = core::hutchinsonTraces(lm, in.windows, in.eval.scoreFrom, blocks, samples, seed, in.grad, ctx.job);
            j["trace"] = core::blockEstimatesJson(es, "std_error");
            if (!ctx.json)
                for (const auto& e : es)
                    std::printf("tr(H) %-10s %.6g ± %.2g (%d samples)\n", e.label.c_str(), e.value, e.stdError, e.steps);
        }
        if (eigen) {
            const auto es =
                core::topEigenvalues(lm, in.windows, in.eval.scoreFrom, blocks, iterations, 1e-3, seed, in.grad, ctx.job);
            j["eigen"] = core::blockEstimatesJson(es, "change");
            if (!ctx.json)
                for (const auto& e : es)
                    std::printf("λmax %-11s %.6g (last change %.2g, %d iterations)\n", e.label.c_str(), e.value,
                                e.stdError, e.steps);
        }
        j["seed"] = seed;
    }
    return j;
}

} // namespace qs::cli
