// SPDX-License-Identifier: MIT
// The flags the analysis commands share: the analysis set and the analysis's own parameters.
#pragma once
#include "arg_list.h"
#include "commands.h"
#include "experiment/analysis_run.h"

#include <nlohmann/json.hpp>

#include <string>

namespace qs::cli {

/// Takes --ctx N and --`windowsFlag` N (when given) into the request's set size. Throws Error naming `owner`.
void takeSetSize(ArgList& args, core::AnalysisRequest& r, const std::string& windowsFlag, const std::string& owner);

/// Takes --calib FILE (required), --ctx N, --sens-windows N and the analysis's schema flags into a
/// request (model left empty: the command opens it). Throws Error naming the command.
core::AnalysisRequest takeAnalysisFlags(ArgList& args, const CliContext& ctx, const std::string& analysis,
                                        const std::string& command);

/// For analyses of one data set, as `eval` takes it: --data FILE (required; the analysis set), --ctx N,
/// --windows N (default `windows`), optional --calib FILE and --calib-windows N (calibration for
/// calibrated methods), then the analysis's schema flags. Throws Error naming the command.
core::AnalysisRequest takeDataAnalysisFlags(ArgList& args, const CliContext& ctx, const std::string& analysis,
                                            long long windows);
/// Help lines for those flags (not the schema's).
std::string dataAnalysisFlagsHelp(long long windows);

/// What an analysis command returns: the outcome, and its JSON ("project" added when stored).
struct AnalysisCommandResult {
    core::AnalysisOutcome outcome;
    nlohmann::json json;
};
/// Opens MODEL (the positional argument) and --project P (when given), checks no argument is left,
/// and runs the analysis (or re-opens the stored one).
AnalysisCommandResult runAnalysisCommand(ArgList& args, CliContext& ctx, core::AnalysisRequest request);

/// How a human line names an outcome: "measured", "measured, stored as #3" or "stored #3".
std::string outcomeTag(const core::AnalysisOutcome& out);

/// Help lines for those flags.
std::string analysisFlagsHelp(const CliContext& ctx, const std::string& analysis);

/// One number with its sign, e.g. "+0.0123".
std::string signedText(double v, int precision);

} // namespace qs::cli
