// SPDX-License-Identifier: MIT
#include "analysis_flags.h"

#include "base/error.h"
#include "cli_params.h"
#include "data/windows.h"

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

core::AnalysisRequest takeAnalysisFlags(ArgList& args, const CliContext& ctx, const std::string& analysis,
                                        const std::string& command) {
    core::AnalysisRequest r;
    r.name = analysis;
    r.commandLine = ctx.commandLine;
    const auto calib = args.takeOption("calib");
    if (!calib) throw core::Error(command + ": missing --calib FILE (the sensitivity set: text or token .npy)");
    r.setPath = *calib;
    r.ctx = core::evalOptionsFromJson(takeSchemaFlags(args, schemaSubset(core::evalOptionsSchema(), {"ctx"})), command).ctx;
    if (const auto v = args.takeOption("sens-windows")) r.windows = positive("--sens-windows", *v);
    r.params = takeSchemaFlags(args, ctx.registries.analyses.get(analysis, "analysis").params());
    return r;
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
