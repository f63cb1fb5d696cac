// SPDX-License-Identifier: MIT
#include "commands.h"
#include "store/project.h"
#include "base/error.h"

#include <cstdio>

namespace qs::cli {

std::string runsUsage(const CliContext&) {
    std::string keys;
    for (const auto& m : core::runMetricTable()) keys += ", " + std::string(m.key);
    return "quantscope-cli runs P.qsproj [--sort KEY] [--desc] [--layers ID] [--json]\n"
           "  Lists a project's runs. --sort: id (default)" + keys +
           ",\n  seconds, started_at, finished_at, status, recipe. --layers ID adds that run's per-layer results.\n";
}

nlohmann::json runRuns(ArgList& args, CliContext& ctx) {
    const std::string sort = args.takeOption("sort").value_or("id");
    const bool desc = args.takeFlag("desc");
    const auto layersOf = args.takeOption("layers");
    const auto path = args.takePositional();
    if (!path) throw core::Error("runs: missing P.qsproj");
    args.expectEmpty();
    auto project = core::Project::open(*path, false);
    nlohmann::json runs = nlohmann::json::array();
    const auto list = project->runs(sort, desc);
    for (const auto& r : list) runs.push_back(r.toJson());
    nlohmann::json j{{"project", project->path().string()}, {"runs", runs}};
    if (layersOf) {
        nlohmann::json layers = nlohmann::json::array();
        for (const auto& l : project->layers(std::stoll(*layersOf)))
            layers.push_back({{"name", l.name}, {"rows", l.rows}, {"cols", l.cols}, {"bits_per_weight", l.bitsPerWeight},
                              {"mse", l.mse}, {"sqnr_db", l.sqnrDb ? nlohmann::json(*l.sqnrDb) : nlohmann::json()},
                              {"max_abs_error", l.maxAbsError}, {"h5_path", l.h5Path}});
        j["layers"] = layers;
    }
    if (!ctx.json) {
        std::printf("%5s %-9s %-44s %10s %10s %10s %8s\n", "id", "status", "recipe", "ppl", "delta", "KLD", "bits/w");
        for (const auto& r : list) {
            const auto& m = r.metrics;
            std::printf("%5lld %-9s %-44s %10.4f %+10.4f %10.5f %8.3f\n", static_cast<long long>(r.id),
                        r.status.c_str(), r.recipeLabel.c_str(), m.perplexity.value_or(NAN),
                        m.perplexity && m.referencePerplexity ? *m.perplexity - *m.referencePerplexity : NAN,
                        m.kldMean.value_or(NAN), m.bitsPerWeight.value_or(NAN));
        }
    }
    return j;
}

} // namespace qs::cli
