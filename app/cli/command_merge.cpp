// SPDX-License-Identifier: MIT
#include "commands.h"
#include "store/project_merge.h"
#include "base/error.h"

#include <cstdio>

namespace qs::cli {

std::string mergeUsage(const CliContext&) {
    return "quantscope-cli merge P.qsproj SHARD.qsproj... [--allow-different] [--json]\n"
           "  Merges projects (e.g. the shards of 'sweep --shard I/N' run as a Slurm job array) into P, creating\n"
           "  it when absent. Every run is copied with its layer rows, its HDF5 arrays file as it is and its\n"
           "  provenance (program version, host, date and the command line that produced it, so which shard);\n"
           "  analyses and plans too. A run whose recipe, model, data (by content hash) and eval settings P\n"
           "  already holds is dropped as a duplicate (so the fp32 reference every shard stores is kept once,\n"
           "  and merging twice adds nothing). Sources made on another model, other data or other eval\n"
           "  settings than P (or than the first source, when P holds nothing) are refused before anything is\n"
           "  written.\n\n"
           "  --allow-different   merge sources of other models, data or settings anyway\n";
}

nlohmann::json runMerge(ArgList& args, CliContext& ctx) {
    core::MergeOptions opts;
    opts.allowDifferent = args.takeFlag("allow-different");
    opts.commandLine = ctx.commandLine;
    const auto into = args.takePositional();
    if (!into) throw core::Error("merge: missing P.qsproj (and the projects to merge into it)");
    std::vector<std::filesystem::path> sources;
    while (const auto s = args.takePositional()) sources.emplace_back(*s);
    args.expectEmpty();
    if (sources.empty()) throw core::Error("merge: no projects to merge into " + *into);
    for (const auto& s : sources)
        if (!std::filesystem::exists(s)) throw core::Error("merge: " + s.string() + ": no such project file");
    const bool existed = std::filesystem::exists(*into);
    auto project = core::Project::open(*into, true);
    core::MergeSummary summary;
    try {
        summary = core::mergeProjects(*project, sources, opts, ctx.job);
    } catch (...) {
        if (!existed) { // a refused merge leaves no new, empty project behind
            project.reset();
            for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(*into + suffix);
            std::error_code ec;
            std::filesystem::remove_all(*into + ".runs", ec);
        }
        throw;
    }
    nlohmann::json j = summary.toJson();
    j["project"] = project->path().string();
    j["runs"] = project->runs().size();
    if (!ctx.json) {
        for (const auto& s : summary.sources)
            std::printf("%-40s runs +%d (%d duplicate), analyses +%d (%d duplicate), plans +%d (%d duplicate)\n",
                        s.path.c_str(), s.runsAdded, s.runsDuplicate, s.analysesAdded, s.analysesDuplicate,
                        s.plansAdded, s.plansDuplicate);
        std::printf("%s: %zu runs\n", project->path().string().c_str(), project->runs().size());
    }
    return j;
}

} // namespace qs::cli
