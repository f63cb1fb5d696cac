// SPDX-License-Identifier: MIT
// quantscope-cli landscape: the loss along one or two directions in weight space (slices, a 2-D grid),
// the exact slope and curvature along each, per-layer curvature, Hessian traces and eigenvalues;
// the registered "landscape" analysis, stored with --project.
#include "analysis_flags.h"
#include "cli_params.h"
#include "commands.h"

#include "base/error.h"
#include "quant/recipe.h"

#include <cmath>
#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

namespace qs::cli {
namespace {

// recipe:R.json becomes recipe:{canonical JSON}, so the stored analysis is keyed by what the recipe
// does, not by its file name; random:SEED and eigen pass as they are.
std::string directionParam(const std::string& given, const CliContext& ctx, const char* flag) {
    if (given.rfind("recipe:", 0) == 0 && given.size() > 7)
        return "recipe:" + core::loadRecipeFile(given.substr(7), ctx.registries).canonical();
    if (given.rfind("file:", 0) == 0)
        throw core::Error(std::string("landscape: --") + flag + " " + given +
                          ": file directions are curvature's (quantscope-cli curvature --direction file:V)");
    return given;
}

} // namespace

std::string landscapeUsage(const CliContext& ctx) {
    return "quantscope-cli landscape MODEL --data FILE [--ctx N] [--windows N]\n"
           "                   --direction recipe:R.json|random:SEED|eigen [--direction2 ...] [--t=-1,-0.5,0,0.5,1]\n"
           "                   [--t2 LIST] [--layer N] [--trace] [--eigen] [--calib FILE] [--project P] [--json]\n"
           "  The loss L (eval's protocol) around the model's weights W: the slice L(W + t·v) along a direction,\n"
           "  with a second direction the grid L(W + a·v + b·w), the exact slope g·v and curvature vᵀHv along\n"
           "  each (forward-over-reverse), vᵀHv/|v|² (sharpness), the basin radius (first t > 0 where L rises\n"
           "  by more than --delta) and, per decoder layer, the curvature along that layer's part of v. For a\n"
           "  recipe, t = 1 is the quantized model itself. With --project the analysis is stored and the same\n"
           "  inputs re-open it.\n" +
           dataAnalysisFlagsHelp(16) +
           schemaHelp(ctx.registries.analyses.get("landscape", "analysis").params()) +
           "\n  JSON: result {loss, perplexity, dir_deriv, curvature, slice {t: loss}, directions [{source, l2_norm,\n"
           "  dir_deriv, curvature, sharpness, basin_radius, slice, layer_curvature, quantized_point}], grid\n"
           "  [[...]] (rows t, columns t2), trace, eigen}\n";
}

nlohmann::json runLandscape(ArgList& args, CliContext& ctx) {
    // Directions first: a recipe file becomes its canonical JSON before the schema sees the flags.
    const auto direction = args.takeOption("direction");
    const auto direction2 = args.takeOption("direction2");
    core::AnalysisRequest request = takeDataAnalysisFlags(args, ctx, "landscape", 16);
    if (direction) request.params["direction"] = directionParam(*direction, ctx, "direction");
    if (direction2) request.params["direction2"] = directionParam(*direction2, ctx, "direction2");
    const AnalysisCommandResult result = runAnalysisCommand(args, ctx, std::move(request));
    const core::AnalysisOutcome& out = result.outcome;
    if (ctx.json) return result.json;

    const nlohmann::json& r = out.output.summary;
    std::printf("landscape (%s): loss %.8f (ppl %.4f) at W\n", outcomeTag(out).c_str(), r["loss"].get<double>(),
                r["perplexity"].get<double>());
    for (const auto& d : r["directions"]) {
        std::printf("direction %s: |v| %.6g, g·v %.6g, vᵀHv %.6g, sharpness %.6g, basin radius %s\n",
                    d["source"].get<std::string>().c_str(), d["l2_norm"].get<double>(), d["dir_deriv"].get<double>(),
                    d["curvature"].get<double>(), d["sharpness"].get<double>(),
                    d["basin_radius"].is_null() ? "beyond the slice" : d["basin_radius"].dump().c_str());
        std::vector<std::pair<double, std::string>> ts; // in the order of t, not of the keys' text
        for (const auto& [t, l] : d["slice"].items()) ts.emplace_back(std::stod(t), t);
        std::sort(ts.begin(), ts.end());
        for (const auto& [t, key] : ts) std::printf("  L(%s) = %.8f\n", key.c_str(), d["slice"][key].get<double>());
    }
    if (r.contains("grid")) std::printf("grid %zu x %zu (see --json)\n", r["grid"].size(), r["grid"][0].size());
    for (const char* key : {"trace", "eigen"})
        if (r.contains(key))
            for (const auto& [label, e] : r[key].items())
                std::printf("%s %-10s %.6g\n", key, label.c_str(), e["value"].get<double>());
    return result.json;
}

} // namespace qs::cli
