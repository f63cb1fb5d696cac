// SPDX-License-Identifier: MIT
#include "analysis_flags.h"

#include "base/error.h"
#include "cli_params.h"
#include "data/windows.h"
#include "model/model.h"
#include "store/project.h"

#include <cstdio>
#include <cstdlib>

namespace qs::cli {
namespace {

long long positive(const std::string& flag, const std::string& text) {
    char* end = nullptr;
    const long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end || v < 1) throw core::Error(flag + " " + text + ": expected a positive integer");
    return v;
}

} // namespace

void takeSetSize(ArgList& args, core::AnalysisRequest& r, const std::string& windowsFlag, const std::string& owner) {
    r.ctx = core::evalOptionsFromJson(takeSchemaFlags(args, schemaSubset(core::evalOptionsSchema(), {"ctx"})), owner).ctx;
    if (const auto v = args.takeOption(windowsFlag)) r.windows = positive(owner + ": --" + windowsFlag, *v);
}

core::AnalysisRequest takeAnalysisFlags(ArgList& args, const CliContext& ctx, const std::string& analysis,
                                        const std::string& command) {
    core::AnalysisRequest r;
    r.name = analysis;
    r.commandLine = ctx.commandLine;
    const auto calib = args.takeOption("calib");
    if (!calib) throw core::Error(command + ": missing --calib FILE (the sensitivity set: text or token .npy)");
    r.setPath = *calib;
    takeSetSize(args, r, "sens-windows", command);
    r.params = takeSchemaFlags(args, ctx.registries.analyses.get(analysis, "analysis").params());
    return r;
}

core::AnalysisRequest takeDataAnalysisFlags(ArgList& args, const CliContext& ctx, const std::string& analysis,
                                            long long windows) {
    core::AnalysisRequest r;
    r.name = analysis;
    r.commandLine = ctx.commandLine;
    const auto data = args.takeOption("data");
    if (!data) throw core::Error(analysis + ": missing --data FILE (text or token .npy)");
    r.setPath = *data;
    r.windows = windows;
    takeSetSize(args, r, "windows", analysis);
    if (const auto c = args.takeOption("calib")) r.calibPath = *c;
    if (const auto v = args.takeOption("calib-windows")) r.calibWindows = positive(analysis + ": --calib-windows", *v);
    r.params = takeSchemaFlags(args, ctx.registries.analyses.get(analysis, "analysis").params());
    return r;
}

std::string dataAnalysisFlagsHelp(long long windows) {
    return "  --data FILE        the data (text or token .npy); --windows N its first N windows (default " +
           std::to_string(windows) +
           "),\n"
           "                     --ctx N tokens per window (default 128)\n"
           "  --calib FILE       calibration data (calibrated methods), --calib-windows N (default 128)\n"
           "  --project P        store the analysis (or re-open a stored one)\n";
}

AnalysisCommandResult runAnalysisCommand(ArgList& args, CliContext& ctx, core::AnalysisRequest request) {
    const auto projectPath = args.takeOption("project");
    const auto path = args.takePositional();
    if (!path) throw core::Error(request.name + ": missing MODEL");
    args.expectEmpty();
    request.model = core::openModel(*path);
    std::unique_ptr<core::Project> project;
    if (projectPath) project = core::Project::open(*projectPath, true);
    AnalysisCommandResult r{core::runAnalysis(request, ctx.registries, project.get(), ctx.job), {}};
    r.json = r.outcome.toJson();
    if (project) r.json["project"] = project->path().string();
    return r;
}

std::string outcomeTag(const core::AnalysisOutcome& out) {
    if (out.reused) return "stored #" + std::to_string(out.id);
    return out.id ? "measured, stored as #" + std::to_string(out.id) : "measured";
}

std::string analysisFlagsHelp(const CliContext& ctx, const std::string& analysis) {
    return "  --calib FILE       the sensitivity set (text or token .npy): the data every measurement uses\n"
           "  --sens-windows N   windows of the sensitivity set (default 16)\n"
           "  --ctx N            tokens per window (default 128)\n" +
           schemaHelp(ctx.registries.analyses.get(analysis, "analysis").params());
}

std::string signedText(double v, int precision) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%+.*f", precision, v);
    return buf;
}

} // namespace qs::cli
