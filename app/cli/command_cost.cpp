// SPDX-License-Identifier: MIT
#include "cli_params.h"
#include "commands.h"

#include "base/error.h"
#include "experiment/cost_run.h"
#include "model/model.h"

#include <algorithm>
#include <cstdio>

namespace qs::cli {

std::string costUsage(const CliContext& ctx) {
    std::string models, params;
    for (const core::CostModel* m : ctx.registries.costModels.all()) {
        models += "  " + std::string(m->name()) + std::string(std::max<std::size_t>(12 - m->name().size(), 1), ' ') +
                  std::string(m->summary()) + "\n";
        params += "\n--model " + std::string(m->name()) + ":\n" + schemaHelp(m->params());
    }
    return "quantscope-cli cost MODEL [--recipe R.json | quantization flags | --run ID --project P.qsproj]\n"
           "                   --model NAME [model flags] [--mode paper|dnnsim] --calib FILE [--ctx N] [--windows N]\n"
           "                   [--native-bits B] [--project P.qsproj] [--json]\n"
           "  Prices a recipe on an accelerator cost model: the model is quantized as the recipe says, each\n"
           "  decoder Linear (or ONNX Conv/Gemm/MatMul) gets its weight codes as quantized and its input codes\n"
           "  as captured on the calibration data (--windows windows of --ctx tokens, default 1; an .onnx model:\n"
           "  the first --windows images, default all), and the model reports per-layer cycles, speedup over its baseline,\n"
           "  the ideal ('potential') speedup and energy. Unquantized operands are read at --native-bits (16).\n"
           "  With --project the result is stored (an analysis of kind 'cost') and re-opened for the same inputs;\n"
           "  --run ID prices that stored run's recipe on its model.\n"
           "  --json: {\"cost_model\", \"mode\", \"label\", \"layers\": [{\"name\", \"baseline_cycles\", \"cycles\",\n"
           "  \"speedup\", \"potential_speedup\", \"energy\", ...}], \"total\": {...}, \"figures\": the model's own\n"
           "  whole-model figures (decode: tokens/s) or null}.\n\nCost models:\n" +
           models + "\nQuantization flags (as eval takes them):\n" + quantizationHelp(ctx.registries) + params;
}

nlohmann::json runCost(ArgList& args, CliContext& ctx) {
    core::CostRequest request;
    const auto modelName = args.takeOption("model");
    if (!modelName) throw core::Error("cost: missing --model NAME (" + [&] {
        std::string names;
        for (const core::CostModel* m : ctx.registries.costModels.all()) names += (names.empty() ? "" : "|") + std::string(m->name());
        return names;
    }() + ")");
    request.costModel = *modelName;
    const core::CostModel& costModel = ctx.registries.costModels.get(*modelName, "cost model");
    request.params = takeSchemaFlags(args, costModel.params());
    // A design with one reading (no "mode" parameter) prices the same in both modes: --mode is accepted.
    const bool hasMode = std::any_of(costModel.params().begin(), costModel.params().end(),
                                     [](const core::ParamSpec& p) { return p.name == "mode"; });
    if (!hasMode)
        if (const auto mode = args.takeOption("mode"); mode && *mode != "paper" && *mode != "dnnsim")
            throw core::Error("cost: --mode " + *mode + ": expected paper or dnnsim");
    const auto runId = args.takeOption("run");
    const auto projectPath = args.takeOption("project");
    const auto calib = args.takeOption("calib");
    const auto ctxTokens = args.takeOption("ctx");
    const auto windows = args.takeOption("windows");
    const auto nativeBits = args.takeOption("native-bits");
    const core::Recipe given = takeRecipe(args, ctx.registries, "cost", true);
    const auto path = args.takePositional();
    args.expectEmpty();

    std::unique_ptr<core::Project> project;
    if (projectPath) project = core::Project::open(*projectPath, !runId.has_value());
    if (runId) {
        if (!project) throw core::Error("cost: --run ID needs --project P.qsproj");
        if (!given.isReference()) throw core::Error("cost: give either --run ID or a recipe (--recipe / quantization flags)");
        request.runId = std::stoll(*runId);
        core::StoredRecipe stored = core::storedRunRecipe(*project, request.runId, ctx.registries);
        if (path && core::contentHash(*path) != core::contentHash(stored.model->path()))
            throw core::Error("cost: " + *path + " is not the model run " + *runId + " measured (" +
                              stored.model->path().string() + ")");
        request.model = std::move(stored.model);
        request.recipe = std::move(stored.recipe);
    } else {
        if (!path) throw core::Error("cost: missing MODEL");
        request.model = core::openModel(*path);
        request.recipe = given;
    }
    request.dataPath = calib.value_or("");
    if (ctxTokens) request.ctx = std::stoi(*ctxTokens);
    if (windows) request.windows = std::stoll(*windows);
    if (nativeBits) request.nativeBits = std::stoi(*nativeBits);
    request.commandLine = ctx.commandLine;

    const core::AnalysisOutcome out = core::runCost(request, ctx.registries, project.get(), ctx.job);
    nlohmann::json j = core::costJson(out);
    if (project) j["project"] = project->path().string();
    if (ctx.json) return j;

    std::printf("%s on %s (%s mode)%s\n", j["label"].get<std::string>().c_str(), j["cost_model"].get<std::string>().c_str(),
                j["mode"].get<std::string>().c_str(), out.reused ? ", stored" : "");
    std::printf("%-44s %14s %14s %8s %9s %12s\n", "layer", "baseline", "cycles", "speedup", "potential", "energy pJ");
    auto row = [](const std::string& name, const nlohmann::json& v) {
        std::printf("%-44s %14.6g %14.6g %8.3f %9.3f %12.6g\n", name.c_str(), v["baseline_cycles"].get<double>(),
                    v["cycles"].get<double>(), v["speedup"].get<double>(), v["potential_speedup"].get<double>(),
                    v["energy"].get<double>());
    };
    for (const auto& l : j["layers"]) row(l["name"].get<std::string>(), l);
    row("total", j["total"]);
    if (!j["figures"].is_null()) std::printf("%s\n", j["figures"].dump(2).c_str());
    for (const auto& l : j["layers"]) // a design that chooses a loop nest per layer prints it
        if (l.contains("nest") && l["nest"].is_string())
            std::printf("\n%s: %s\n%s", l["name"].get<std::string>().c_str(),
                        l.value("summary", std::string()).c_str(), l["nest"].get<std::string>().c_str());
    if (j["capture"]["off_grid_runs"].get<long long>() > 0)
        std::printf("note: %lld runs of values lay on no grid of their format and were rounded to it\n",
                    j["capture"]["off_grid_runs"].get<long long>());
    return j;
}

} // namespace qs::cli
