// SPDX-License-Identifier: MIT
#pragma once
#include "arg_list.h"
#include "experiment/builtins.h"
#include "base/job.h"

#include <nlohmann/json.hpp>
#include <string_view>

namespace qs::cli {

/// What every command gets: the registries, whether --json was asked, and a job context whose
/// progress goes to stderr.
struct CliContext {
    const core::Registries& registries;
    bool json = false;
    core::JobContext job;
    std::string commandLine; ///< as typed (provenance of what a command stores)
};

/// One CLI command, declared once in the command table of main.cpp.
struct Command {
    std::string_view name;
    std::string_view summary;
    std::string (*usage)(const CliContext& ctx);
    /// Runs the command and returns the JSON result (printed with --json) after printing the
    /// human form itself when not in JSON mode.
    nlohmann::json (*run)(ArgList& args, CliContext& ctx);
};

std::string inspectUsage(const CliContext& ctx);
nlohmann::json runInspect(ArgList& args, CliContext& ctx);
std::string quantizeUsage(const CliContext& ctx);
nlohmann::json runQuantize(ArgList& args, CliContext& ctx);
std::string formatsUsage(const CliContext& ctx);
nlohmann::json runFormats(ArgList& args, CliContext& ctx);
std::string compareFormatsUsage(const CliContext& ctx);
nlohmann::json runCompareFormats(ArgList& args, CliContext& ctx);
std::string evalUsage(const CliContext& ctx);
nlohmann::json runEval(ArgList& args, CliContext& ctx);
std::string sweepUsage(const CliContext& ctx);
nlohmann::json runSweep(ArgList& args, CliContext& ctx);
std::string mergeUsage(const CliContext& ctx);
nlohmann::json runMerge(ArgList& args, CliContext& ctx);
std::string runsUsage(const CliContext& ctx);
nlohmann::json runRuns(ArgList& args, CliContext& ctx);
std::string exportUsage(const CliContext& ctx);
nlohmann::json runExport(ArgList& args, CliContext& ctx);
std::string reportUsage(const CliContext& ctx);
nlohmann::json runReport(ArgList& args, CliContext& ctx);
std::string sensitivityUsage(const CliContext& ctx);
nlohmann::json runSensitivity(ArgList& args, CliContext& ctx);
std::string mixedPrecisionUsage(const CliContext& ctx);
nlohmann::json runMixedPrecision(ArgList& args, CliContext& ctx);
std::string costUsage(const CliContext& ctx);
nlohmann::json runCost(ArgList& args, CliContext& ctx);
std::string gradUsage(const CliContext& ctx);
nlohmann::json runGrad(ArgList& args, CliContext& ctx);
std::string curvatureUsage(const CliContext& ctx);
nlohmann::json runCurvature(ArgList& args, CliContext& ctx);
std::string landscapeUsage(const CliContext& ctx);
nlohmann::json runLandscape(ArgList& args, CliContext& ctx);
std::string spansUsage(const CliContext& ctx);
nlohmann::json runSpans(ArgList& args, CliContext& ctx);
std::string predictUsage(const CliContext& ctx);
nlohmann::json runPredict(ArgList& args, CliContext& ctx);
std::string misalignmentUsage(const CliContext& ctx);
nlohmann::json runMisalignment(ArgList& args, CliContext& ctx);

} // namespace qs::cli
