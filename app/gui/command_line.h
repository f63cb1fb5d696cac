// SPDX-License-Identifier: MIT
#pragma once
#include <QString>
#include <QStringList>
#include <nlohmann/json.hpp>

namespace qs::gui {

/// What `quantscope [MODEL_DIR] [--headless] [--method M] [--format F --granularity G --group N
/// --sym|--asym]` asked for. The quantization flags come from core's quantSpecSchema().
struct CommandLine {
    QString modelPath;     ///< empty: the embedded demo
    bool headless = false; ///< --headless
    bool help = false;     ///< --help / -h
    bool version = false;  ///< --version
    QString method = QStringLiteral("rtn");
    QString dataPath;      ///< --data FILE: evaluation text or token ids (headless perplexity comparison)
    nlohmann::json spec = nlohmann::json::object(); ///< quantSpecSchema() keys given on the command line
    QString error;                                  ///< non-empty when the arguments were not understood
};

/// The spec the app starts with: int4, asymmetric, groups of 32 (the common 4-bit recipe).
nlohmann::json defaultSpecValues();

/// Parses arguments (args[0] is the program). Needs no QCoreApplication.
CommandLine parseCommandLine(const QStringList& args);

/// The --help text.
QString commandLineHelp();

/// True when the run must not open a window: --headless, or no display (neither DISPLAY nor
/// WAYLAND_DISPLAY set) and no QT_QPA_PLATFORM chosen.
bool shouldRunHeadless(const CommandLine& cl);

/// The embedded demo model: `<exeDir>/../share/quantscope/demo` when installed, else the source
/// tree's resources/demo; empty when neither holds a config.json.
QString defaultModelPath(const QString& exeDir);

/// The directory of the running executable (from /proc/self/exe, falling back to `argv0`).
QString executableDir(const char* argv0);

} // namespace qs::gui
