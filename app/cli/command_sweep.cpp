// SPDX-License-Identifier: MIT
#include "cli_params.h"
#include "commands.h"
#include "io/file_util.h"
#include "experiment/predict_run.h"
#include "experiment/sweep.h"
#include "experiment/sweep_shard.h"
#include "base/error.h"

#include <cstdio>
#include <iostream>

namespace qs::cli {

std::string sweepUsage(const CliContext& ctx) {
    std::string keys;
    for (const auto& k : core::sweepGridKeys(ctx.registries)) keys += " " + k;
    return "quantscope-cli sweep MODEL --grid GRID.json --data FILE --project P.qsproj [--jobs N]\n"
           "                    [--ctx N] [--windows N] [--compute f32|bf16] [--labels Y] [--shard I/N]\n"
           "                    [--order grid|promising|uncertain --predictions PRED.json] [--no-prefix-cache] [--json]\n"
           "  Evaluates every recipe of the grid (the cartesian product of its lists) and stores each run in\n"
           "  the project as it finishes; recipes already finished there for the same model, data and eval\n"
           "  settings are skipped, so an interrupted sweep resumes where it stopped. The fp32 reference is\n"
           "  evaluated once and stored as the run of recipe {}.\n\n"
           "  --grid FILE   {\"format\": [\"int4\", \"int3\"], \"group\": [32, 128], \"asym\": [true]}; a scalar is a\n"
           "                one-element list; invalid combinations are reported and skipped. Keys:\n               " +
           keys +
           "\n  --jobs N      recipes in parallel threads, each single-threaded (default 1)\n"
           "  --shard I/N   run only shard I of N (1 <= I <= N, as Slurm's --array=1-N numbers tasks): the\n"
           "                grid's distinct recipes sorted by canonical recipe JSON, every N-th from the I-th, so\n"
           "                the slice does not depend on the grid's order and the N shards are disjoint and\n"
           "                cover the grid. Each shard also stores the fp32 reference; give each its own\n"
           "                --project and join them with 'quantscope-cli merge' (packaging/slurm/README.md)\n"
           "  --order O     run order: grid (default), promising (best predicted quality first) or uncertain\n"
           "                (the predictor's learners disagreeing most first); needs --predictions\n"
           "  --predictions PRED.json   'quantscope-cli predict P --recipes GRID.json --json' of this grid\n"
           "                (its \"predictions\"); recipes it does not rank run after those it does\n"
           "  --no-prefix-cache   rerun every layer of every recipe (to time what the cache saves). By default\n"
           "                the residual streams entering decoder layers are kept (256 MiB at most), so a recipe\n"
           "                whose layers below L compute what an earlier recipe's or the fp32 model's did starts\n"
           "                at layer L; the results are the same bit for bit\n"
           "  --ctx N, --windows N, --compute f32|bf16   as for eval (bf16 runs are stored apart)\n"
           "  --labels Y    MODEL.onnx classifiers: --data holds the images and Y their labels (X.npy or\n"
           "                FILE.h5:DATASET, as for eval); runs store accuracy instead of perplexity\n";
}

nlohmann::json runSweep(ArgList& args, CliContext& ctx) {
    const auto gridPath = args.takeOption("grid");
    const auto data = args.takeOption("data");
    const auto projectPath = args.takeOption("project");
    const auto labels = args.takeOption("labels");
    const auto shardText = args.takeOption("shard");
    const auto orderText = args.takeOption("order");
    const auto predictionsPath = args.takeOption("predictions");
    const bool noPrefixCache = args.takeFlag("no-prefix-cache");
    const core::SweepOrder order = core::sweepOrderFromName(orderText.value_or("grid"), "--order");
    if ((order != core::SweepOrder::Grid) != predictionsPath.has_value())
        throw core::Error(predictionsPath ? "--predictions: give --order promising or uncertain"
                                          : "--order " + *orderText + ": needs --predictions PRED.json");
    const std::optional<core::SweepShard> shard =
        shardText ? std::optional(core::parseSweepShard(*shardText)) : std::nullopt;
    core::SweepOptions opts;
    opts.prefixCache = !noPrefixCache;
    opts.eval = core::evalOptionsFromJson(takeSchemaFlags(args, core::evalOptionsSchema()), "sweep");
    if (const auto j = args.takeOption("jobs")) {
        opts.jobs = std::atoi(j->c_str());
        if (opts.jobs < 1) throw core::Error("--jobs " + *j + ": expected a positive integer");
    }
    const auto model = args.takePositional();
    if (!model) throw core::Error("sweep: missing MODEL");
    if (!gridPath) throw core::Error("sweep: missing --grid GRID.json");
    if (!data) throw core::Error("sweep: missing --data FILE");
    if (!projectPath) throw core::Error("sweep: missing --project P.qsproj");
    args.expectEmpty();
    if (opts.eval.ctx < 2) throw core::Error("--ctx: expected an integer >= 2");

    nlohmann::json grid;
    try {
        grid = nlohmann::json::parse(core::readWholeFile(*gridPath));
    } catch (const nlohmann::json::exception& e) {
        throw core::Error(*gridPath + ": not valid JSON: " + e.what());
    }
    std::vector<core::SweepPoint> points;
    try {
        points = core::expandGrid(grid, ctx.registries);
    } catch (const core::Error& e) {
        throw core::Error(*gridPath + ": " + e.what());
    }
    opts.model = *model;
    opts.data = *data;
    if (labels) opts.labels = *labels;
    opts.commandLine = "quantscope-cli sweep " + *model + " --grid " + *gridPath + " --data " + *data +
                       " --project " + *projectPath + " --jobs " + std::to_string(opts.jobs) + " --ctx " +
                       std::to_string(opts.eval.ctx) + " --windows " + std::to_string(opts.eval.maxWindows) +
                       (labels ? " --labels " + *labels : std::string()) +
                       (shard ? " --shard " + shard->text() : std::string());
    if (shard) points = core::selectSweepShard(points, *shard);
    if (predictionsPath) {
        nlohmann::json predictions;
        try {
            predictions = nlohmann::json::parse(core::readWholeFile(*predictionsPath));
        } catch (const nlohmann::json::exception& e) {
            throw core::Error(*predictionsPath + ": not valid JSON: " + e.what());
        }
        if (predictions.is_object() && predictions.contains("predictions")) predictions = predictions["predictions"];
        try {
            points = core::orderSweepPoints(std::move(points), predictions, order, ctx.registries);
        } catch (const core::Error& e) {
            throw core::Error(*predictionsPath + ": " + e.what());
        }
        opts.commandLine += " --order " + *orderText + " --predictions " + *predictionsPath;
    }
    for (const auto& p : points)
        if (!p.recipe) std::fprintf(stderr, "skipping invalid point %s: %s\n", p.values.dump().c_str(), p.invalidReason.c_str());

    auto project = core::Project::open(*projectPath, true);
    const core::SweepSummary summary = core::runSweep(*project, points, opts, ctx.registries, ctx.job);
    nlohmann::json j = summary.toJson();
    j["project"] = project->path().string();
    if (shard) j["shard"] = {{"index", shard->index}, {"count", shard->count}, {"points", points.size()}};
    if (!ctx.json) {
        std::printf("fp32 reference: run %lld", static_cast<long long>(summary.referenceRunId));
        if (summary.referenceAccuracy) std::printf(", accuracy %.4f\n", *summary.referenceAccuracy);
        else std::printf(", perplexity %.6f\n", summary.referencePerplexity);
        for (const auto& o : summary.outcomes) {
            std::printf("%-10s %-6s %-44s", o.status.c_str(), o.runId ? std::to_string(o.runId).c_str() : "-",
                        (o.label.empty() ? o.recipe.dump() : o.label).c_str());
            if (o.perplexity)
                std::printf(" ppl %.4f (%+.4f) KLD %.5f %.3f b/w", *o.perplexity, o.deltaPerplexity.value_or(0),
                            o.kldMean.value_or(0), o.bitsPerWeight.value_or(0));
            else if (o.accuracy)
                std::printf(" accuracy %.4f %.3f b/w", *o.accuracy, o.bitsPerWeight.value_or(0));
            if (!o.message.empty()) std::printf(" %s", o.message.c_str());
            std::printf("\n");
        }
        std::printf("done %d, skipped %d, failed %d, invalid %d in %.1f s\n", j["done"].get<int>(),
                    j["skipped"].get<int>(), j["failed"].get<int>(), j["invalid"].get<int>(), j["seconds"].get<double>());
        if (summary.layerRunsWithoutCache > 0)
            std::printf("%lld layer runs (%lld without the prefix cache)\n", summary.layerRuns, summary.layerRunsWithoutCache);
    }
    return j;
}

} // namespace qs::cli
