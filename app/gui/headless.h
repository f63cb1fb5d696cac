// SPDX-License-Identifier: MIT
#pragma once
#include "command_line.h"
#include "experiment/builtins.h"

#include <iosfwd>

namespace qs::gui {

/// The window-less run: opens the model, prints core's layer table, quantizes with the command
/// line's method and spec (defaults: rtn int4 asym group 32) and prints the result. With --data, or on
/// the demo model (no model given, or the demo's directory by any path), it then compares the
/// perplexity of a few recipes (the demo's own sample.txt) and, for the demo, its digit classifier.
/// Returns the process exit code (0 on success; errors go to `err` naming the file and the problem).
int runHeadless(const CommandLine& cl, const core::Registries& registries, const QString& exeDir,
                std::ostream& out, std::ostream& err);

} // namespace qs::gui
