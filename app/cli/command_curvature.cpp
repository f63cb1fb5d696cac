// SPDX-License-Identifier: MIT
// quantscope-cli curvature: the loss's slope and exact curvature along a direction in weight space,
// a slice of the loss along it, and per-layer Hessian trace / top eigenvalue estimates.
#include "cli_params.h"
#include "commands.h"
#include "data/calib_data.h"
#include "grad_inputs.h"
#include "io/safetensors.h"
#include "quant/model_quantizer.h"
#include "tensor/transpose.h"

#include <cmath>
#include <cstdio>
#include <iostream>
#include <numbers>
#include <optional>
#include <random>
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

std::vector<double> parseTs(const std::string& text) {
    std::vector<double> ts;
    std::stringstream s(text);
    std::string item;
    while (std::getline(s, item, ',')) {
        try {
            std::size_t used = 0;
            ts.push_back(std::stod(item, &used));
            if (used != item.size() || !std::isfinite(ts.back())) throw std::invalid_argument(item);
        } catch (const std::exception&) {
            throw core::Error("curvature: --t " + text + ": '" + item + "' is not a number");
        }
    }
    if (ts.empty()) throw core::Error("curvature: --t needs at least one value");
    return ts;
}

// Standard normal numbers from a 64-bit Mersenne Twister by Box–Muller: the same on every platform
// (std::normal_distribution is not).
class Gaussian {
public:
    explicit Gaussian(std::uint64_t seed) : m_rng(seed) {}
    double operator()() {
        const double u1 = (static_cast<double>(m_rng() >> 11) + 0.5) * 0x1.0p-53;
        const double u2 = static_cast<double>(m_rng() >> 11) * 0x1.0p-53;
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
    }

private:
    std::mt19937_64 m_rng;
};

core::WeightDirection randomDirection(const core::Model& model, const core::CausalLm& lm, std::uint64_t seed) {
    Gaussian normal(seed);
    core::WeightDirection v;
    for (const core::DifferentiableWeight& d : core::differentiableWeights(lm)) {
        const core::WeightInfo* info = model.find(d.name);
        if (!info || info->shape.size() < 2) continue; // norms and biases: 0
        const std::vector<float> w = model.weightAsOutIn(*info);
        const std::int64_t rows = info->matrixRows(), cols = info->matrixCols();
        std::vector<float> outIn(w.size());
        for (std::int64_t r = 0; r < rows; ++r) {
            double wn = 0, dn = 0;
            for (std::int64_t c = 0; c < cols; ++c) {
                const double x = normal();
                outIn[static_cast<std::size_t>(r * cols + c)] = static_cast<float>(x);
                wn += static_cast<double>(w[static_cast<std::size_t>(r * cols + c)]) * w[static_cast<std::size_t>(r * cols + c)];
                dn += x * x;
            }
            const double scale = dn > 0 ? std::sqrt(wn / dn) : 0.0;
            for (std::int64_t c = 0; c < cols; ++c)
                outIn[static_cast<std::size_t>(r * cols + c)] =
                    static_cast<float>(outIn[static_cast<std::size_t>(r * cols + c)] * scale);
        }
        // Back to the stored layout ([in, out] for GPT-2 Conv1D).
        v[d.name] = info->transposed ? core::transposeMatrix(outIn, rows, cols) : std::move(outIn);
    }
    return v;
}

core::WeightDirection recipeDirection(const core::Model& model, const std::string& file, CliContext& ctx,
                                      const std::optional<std::string>& calibFile, int calibWindows, int evalCtx) {
    const core::Recipe recipe = core::loadRecipeFile(file, ctx.registries);
    if (!recipe.quantizeWeights) throw core::Error("curvature: " + file + " quantizes no weights: no direction");
    std::optional<core::CalibrationData> calib;
    if (calibFile) calib = core::loadCalibrationData(*calibFile, model.path(), evalCtx, calibWindows);
    core::ModelQuantResult q =
        core::quantizeModel(model, ctx.registries, recipe.job, ctx.job, true, {}, calib ? &*calib : nullptr);
    if (q.transformed)
        throw core::Error("curvature: " + file + " changes the model's basis (" + q.transformed->applied.dump() +
                          "): Q(W) − W is not a direction in the model's own weights");
    core::WeightDirection v;
    for (auto& [name, quantized] : q.weights) {
        const std::vector<float> w = model.weight(name).toFloats();
        for (std::size_t i = 0; i < quantized.size(); ++i)
            quantized[i] -= w[i];
        v[name] = std::move(quantized);
    }
    return v;
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

nlohmann::json estimatesJson(const std::vector<core::BlockEstimate>& es, const char* spread) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& e : es) j[e.label] = {{"value", e.value}, {spread, e.stdError}, {"steps", e.steps}};
    return j;
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
    const std::vector<double> ts = parseTs(args.takeOption("t").value_or("-1,-0.5,0.5,1,2"));
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
                v = randomDirection(*in.model, lm, std::stoull(arg));
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
        const core::WeightBlocks blocks = layerBlocks(*in.model, lm);
        if (trace) {
            const auto es = core::hutchinsonTraces(lm, in.windows, in.eval.scoreFrom, blocks, samples, seed, in.grad, ctx.job);
            j["trace"] = estimatesJson(es, "std_error");
            if (!ctx.json)
                for (const auto& e : es)
                    std::printf("tr(H) %-10s %.6g ± %.2g (%d samples)\n", e.label.c_str(), e.value, e.stdError, e.steps);
        }
        if (eigen) {
            const auto es =
                core::topEigenvalues(lm, in.windows, in.eval.scoreFrom, blocks, iterations, 1e-3, seed, in.grad, ctx.job);
            j["eigen"] = estimatesJson(es, "change");
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
