// SPDX-License-Identifier: MIT
// quantscope-cli predict: learns the quality of recipes from a project's evaluated runs (features of
// the recipe, its RTN error and the loss's curvature along it) and ranks recipes not yet evaluated;
// the registered "predict" analysis, stored in the project.
#include "analysis_flags.h"
#include "cli_params.h"
#include "commands.h"

#include "base/error.h"
#include "experiment/analysis_run.h"
#include "experiment/predict_run.h"
#include "store/project.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace qs::cli {

std::string predictUsage(const CliContext& ctx) {
    return "quantscope-cli predict P.qsproj [--recipes GRID.json] [--target delta_nll|kld] [--model DIR]\n"
           "                 [--data FILE] [--windows 2] [--json]\n"
           "  Fits a random forest and a ridge-regularised linear model on the project's evaluated runs of one\n"
           "  model (features: formats, methods, bits, the RTN error's SQNR and energy, the loss's exact slope\n"
           "  and curvature along it, Hessian traces times error energy), reports their leave-one-out and\n"
           "  leave-one-format-out errors beside predicting the mean, the features' permutation importances,\n"
           "  and ranks the recipes of a sweep grid not yet evaluated by predicted quality. Stored in the project.\n"
           "  --recipes GRID.json  recipes to rank (the sweep grid format)\n"
           "  --model DIR          the model whose runs to learn from (default: the one with the most runs)\n"
           "  --data FILE          data for the curvature features (default: the runs' evaluation data);\n"
           "                       --windows N of it (default 2), --ctx N\n" +
           schemaHelp(schemaSubset(ctx.registries.analyses.get("predict", "analysis").params(),
                                   {"target", "trees", "lambda", "curvature", "trace_samples", "seed"})) +
           "\n  JSON: loo_error, baseline_error, lofo_error, predictions [{rank, label, predicted,\n"
           "  predicted_perplexity, predicted_linear, uncertainty, bits_per_weight, recipe}], result {...}\n";
}

nlohmann::json runPredict(ArgList& args, CliContext& ctx) {
    const auto gridPath = args.takeOption("recipes");
    const auto modelPath = args.takeOption("model");
    const auto dataPath = args.takeOption("data");
    core::AnalysisRequest request;
    request.name = "predict";
    request.commandLine = ctx.commandLine;
    request.windows = 2;
    takeSetSize(args, request, "windows", "predict");
    request.params = takeSchemaFlags(args, schemaSubset(ctx.registries.analyses.get("predict", "analysis").params(),
                                                        {"target", "trees", "lambda", "curvature", "trace_samples", "seed"}));
    const auto projectPath = args.takePositional();
    if (!projectPath) throw core::Error("predict: missing P.qsproj");
    args.expectEmpty();
    if (!std::filesystem::exists(*projectPath)) throw core::Error("predict: " + *projectPath + ": no such project");
    auto project = core::Project::open(*projectPath, true);
    const std::string target = request.params.value("target", "delta_nll");
    std::optional<nlohmann::json> grid;
    if (gridPath) {
        std::ifstream in(*gridPath);
        if (!in) throw core::Error("predict: cannot read " + *gridPath);
        try {
            grid = nlohmann::json::parse(in);
        } catch (const nlohmann::json::exception& e) {
            throw core::Error("predict: " + *gridPath + ": not JSON (" + e.what() + ")");
        }
    }
    const long long skipped = core::fillPredictRequest(request, *project, ctx.registries, modelPath.value_or(""),
                                                       grid ? &*grid : nullptr, dataPath.value_or(""));
    const core::AnalysisOutcome out = core::runAnalysis(request, ctx.registries, project.get(), ctx.job);
    nlohmann::json j = out.toJson();
    const nlohmann::json& r = out.output.summary;
    for (const char* key : {"loo_error", "baseline_error", "lofo_error", "baseline_lofo_error", "predictions", "importances"})
        j[key] = r[key];
    j["skipped_evaluated"] = skipped;
    j["project"] = project->path().string();
    if (ctx.json) return j;

    std::printf("prediction (%s) of %s from %d evaluated recipes (features: %zu)\n", outcomeTag(out).c_str(),
                target.c_str(), r["training_runs"].get<int>(), r["features"].size());
    for (const char* learner : {"forest", "linear"}) {
        const auto& l = r["learners"][learner];
        std::printf("%-6s leave-one-out MAE %.5f (R² %.3f), leave-one-format-out MAE %.5f\n", learner,
                    l["loo"]["mae"].get<double>(), l["loo"]["r2"].get<double>(), l["lofo"]["mae"].get<double>());
    }
    std::printf("mean   leave-one-out MAE %.5f, leave-one-format-out MAE %.5f\n", r["baseline_error"].get<double>(),
                r["baseline_lofo_error"].get<double>());
    std::vector<std::pair<double, std::string>> imp;
    for (const auto& [k, v] : r["importances"].items()) imp.emplace_back(v.get<double>(), k);
    std::sort(imp.rbegin(), imp.rend());
    std::printf("importances (forest, permutation):");
    for (std::size_t i = 0; i < imp.size() && i < 6; ++i) std::printf(" %s %.4f", imp[i].second.c_str(), imp[i].first);
    std::printf("\n");
    for (const auto& pr : r["predictions"])
        std::printf("%3d  %-44s predicted %+.5f%s  (linear %+.5f, %.2f bpw)\n", pr["rank"].get<int>(),
                    pr["label"].get<std::string>().c_str(), pr["predicted"].get<double>(),
                    pr.contains("predicted_perplexity")
                        ? (" → ppl " + std::to_string(pr["predicted_perplexity"].get<double>())).c_str()
                        : "",
                    pr["predicted_linear"].get<double>(), pr["bits_per_weight"].get<double>());
    return j;
}

} // namespace qs::cli
