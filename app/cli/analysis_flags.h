// SPDX-License-Identifier: MIT
// The flags the analysis commands share: the analysis set and the analysis's own parameters.
#pragma once
#include "arg_list.h"
#include "commands.h"
#include "experiment/analysis_run.h"

#include <string>

namespace qs::cli {

/// Takes --calib FILE (required), --ctx N, --sens-windows N and the analysis's schema flags into a
/// request (model left empty: the command opens it). Throws Error naming the command.
core::AnalysisRequest takeAnalysisFlags(ArgList& args, const CliContext& ctx, const std::string& analysis,
                                        const std::string& command);

/// Help lines for those flags.
std::string analysisFlagsHelp(const CliContext& ctx, const std::string& analysis);

/// One number with its sign, e.g. "+0.0123".
std::string signedText(double v, int precision);

} // namespace qs::cli
