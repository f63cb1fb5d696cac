// SPDX-License-Identifier: MIT
#include "analysis_flags.h"
#include "cli_params.h"
#include "commands.h"

#include "base/error.h"
#include "experiment/mixed_precision_run.h"
#include "model/model.h"

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <sstream>

namespace qs::cli {
namespace {

std::vector<double> budgetList(const std::string& text) {
    std::vector<double> out;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
        char* end = nullptr;
        const double v = std::strtod(item.c_str(), &end);
        if (item.empty() || *end || !(v > 0)) throw core::Error("--budget " + text + ": '" + item + "' is not a positive number");
        out.push_back(v);
    }
    if (out.empty()) throw core::Error("--budget: give at least one budget, e.g. 3.6,4.0,4.4");
    return out;
}

} // namespace

std::string mixedPrecisionUsage(const CliContext& ctx) {
    return "quantscope-cli mixed-precision MODEL --data FILE --calib FILE --budget B1,B2,... [--unit bpw|bytes|cost]\n"
           "                              [--solver clado|ilp|additive|gradient|greedy|uniform|all]\n"
           "                              [--project P] [--json]\n"
           "  Chooses a candidate format per decision group under each budget, by each solver, from the\n"
           "  sensitivity analysis (run now, or re-opened from the project when stored with the same inputs):\n"
           "    clado     measured singles + measured pairwise interactions, exact integer quadratic program\n"
           "    ilp       HAWQ-V3: Hessian trace / n x ||dW||^2 per group, additive, exact\n"
           "    additive  ModelOpt auto_quantize's forward-only score: per-group KL, monotone in bits, exact\n"
           "    gradient  ModelOpt auto_quantize's default score: sum (dL/dY)^2 (dY)^2 over the group's outputs,\n"
           "              monotone in bits, exact\n"
           "    greedy    measured singles, upgrades by loss per bit\n"
           "    uniform   one candidate for every group: the best one within the budget\n"
           "  Each chosen recipe is evaluated on --data (held out: the plans never see it) and stored as a run\n"
           "  with its plan; each method's frontier (its best plan within each budget) is reported.\n\n"
           "  --data FILE        held-out evaluation data\n"
           "  --windows N        held-out windows (default: all)\n"
           "  --budget LIST      budgets, comma-separated, in --unit (bits per weight by default)\n"
           "  --unit bpw|bytes|cost  bits per weight of the decision groups, their total bytes, or their cost on\n"
           "                     --cost-model (e.g. the best plan for Loom at <= N cycles)\n"
           "  --cost-model NAME  the cost model of --unit cost (see 'cost --help'); its activations are\n"
           "                     captured on the sensitivity set at 16 bits\n"
           "  --cost-metric cycles|energy  what --unit cost counts (default cycles)\n"
           "  --cost-params JSON the cost model's parameters, e.g. '{\"pe_serial_bits\": 2}'\n"
           "  --solver LIST      comma-separated solvers or all (default all); clado turns --pairs on\n"
           "  --objective kld|loss  what clado, greedy and uniform minimise: the mean KL to the fp32 model\n"
           "                     (default; label-free and steadier on a small set) or the change of mean NLL\n"
           "  --time-limit S     exact solver time limit per plan in seconds (default 10); on the limit the\n"
           "                     best plan found is returned with its gap to the proven bound\n"
           "  --no-eval          plan only, evaluate nothing\n" +
           analysisFlagsHelp(ctx, "sensitivity");
}

nlohmann::json runMixedPrecision(ArgList& args, CliContext& ctx) {
    core::FrontierRequest request;
    request.sensitivity = takeAnalysisFlags(args, ctx, "sensitivity", "mixed-precision");
    const auto data = args.takeOption("data");
    const auto budget = args.takeOption("budget");
    const auto unit = args.takeOption("unit");
    const auto solver = args.takeOption("solver");
    const auto timeLimit = args.takeOption("time-limit");
    const auto objective = args.takeOption("objective");
    const auto projectPath = args.takeOption("project");
    const auto costModel = args.takeOption("cost-model");
    const auto costMetric = args.takeOption("cost-metric");
    const auto costParams = args.takeOption("cost-params");
    request.evaluate = !args.takeFlag("no-eval");
    nlohmann::json evalFlags = takeSchemaFlags(args, schemaSubset(core::evalOptionsSchema(), {"windows"}));
    const auto path = args.takePositional();
    if (!path) throw core::Error("mixed-precision: missing MODEL");
    if (!budget) throw core::Error("mixed-precision: missing --budget B1,B2,... (e.g. 3.6,4.0,4.4 bits per weight)");
    if (!data && request.evaluate) throw core::Error("mixed-precision: missing --data FILE (held-out data; or --no-eval)");
    args.expectEmpty();
    request.budgets = budgetList(*budget);
    request.unit = core::budgetUnitFromName(unit.value_or("bpw"), "--unit");
    if (costModel) {
        core::CostBudget cost;
        cost.model = *costModel;
        cost.metric = costMetric.value_or("cycles");
        if (costParams) {
            cost.params = nlohmann::json::parse(*costParams, nullptr, false);
            if (!cost.params.is_object()) throw core::Error("--cost-params: '" + *costParams + "' is not a JSON object");
        }
        request.cost = cost;
    } else if (request.unit == core::BudgetUnit::Cost) {
        throw core::Error("mixed-precision: --unit cost needs --cost-model NAME");
    }
    request.objective = core::mpObjectiveFromName(objective.value_or("kld"), "--objective");
    request.methods = core::mpMethodsFromList(solver.value_or("all"), "--solver");
    if (timeLimit) {
        char* end = nullptr;
        request.solve.timeLimitSeconds = std::strtod(timeLimit->c_str(), &end);
        if (*end || !(request.solve.timeLimitSeconds >= 0)) throw core::Error("--time-limit " + *timeLimit + ": expected seconds >= 0");
    }
    const bool clado = std::find(request.methods.begin(), request.methods.end(), core::MpMethod::Clado) != request.methods.end();
    if (clado && !request.sensitivity.params.contains("pairs")) request.sensitivity.params["pairs"] = true;
    const std::shared_ptr<const core::Model> model = core::openModel(*path);
    request.sensitivity.model = model;
    request.heldOut.model = model;
    request.heldOut.data = data.value_or("");
    evalFlags["ctx"] = request.sensitivity.ctx;
    // The plans are evaluated with the products the sensitivity measured them with.
    if (request.sensitivity.params.contains("compute")) evalFlags["compute"] = request.sensitivity.params["compute"];
    request.heldOut.eval = core::evalOptionsFromJson(evalFlags, "mixed-precision");
    request.heldOut.commandLine = ctx.commandLine;
    std::unique_ptr<core::Project> project;
    if (projectPath) project = core::Project::open(*projectPath, true);
    const core::FrontierResult result = core::runMixedPrecision(request, ctx.registries, project.get(), ctx.job);
    nlohmann::json j = result.toJson();
    j["unit"] = core::budgetUnitName(request.unit);
    if (project) j["project"] = project->path().string();
    if (ctx.json) return j;

    std::printf("sensitivity %s (%s)\n", result.sensitivity.id ? ("#" + std::to_string(result.sensitivity.id)).c_str() : "",
                result.sensitivity.reused ? "stored" : "measured now");
    if (result.referencePerplexity > 0) std::printf("fp32 held-out perplexity %.4f\n", result.referencePerplexity);
    std::printf("%-9s %8s %7s %12s %10s %10s %9s %7s %s\n", "method", "budget", "bpw", "pred dLoss", "ppl", "dppl",
                "frontier", "solve s", "status");
    for (const auto& p : j["points"]) {
        std::printf("%-9s %8.4g ", p["method"].get<std::string>().c_str(), p["budget"].get<double>());
        if (p.contains("error")) {
            std::printf("%s\n", p["error"].get<std::string>().c_str());
            continue;
        }
        std::printf("%7.3f %12.6f ", p["bits_per_weight"].get<double>(), p["predicted_delta_loss"].get<double>());
        if (p.contains("perplexity"))
            std::printf("%10.4f %10s %9.4f ", p["perplexity"].get<double>(),
                        signedText(p["delta_perplexity"].get<double>(), 4).c_str(), p["frontier_perplexity"].get<double>());
        else
            std::printf("%10s %10s %9s ", "-", "-", "-");
        const std::string status = p["optimal"].get<bool>() ? "optimal"
                                   : p["gap"].is_number() ? "gap " + p["gap"].dump()
                                                          : "heuristic (no bound)";
        std::printf("%7.3f %s\n", p["solve_seconds"].get<double>(), status.c_str());
    }
    return j;
}

} // namespace qs::cli
