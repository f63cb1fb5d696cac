// SPDX-License-Identifier: MIT
#pragma once
#include <array>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/wait.h>

namespace qs::test {

/// Output and exit status of one CLI run.
struct CliRun {
    int exitCode = -1;
    std::string out;

    /// stdout parsed as JSON (throws when it is not).
    nlohmann::json json() const { return nlohmann::json::parse(out); }
};

/// Runs a shell command line; its stdout and exit code (stderr goes where the test's goes).
inline CliRun runCommand(const std::string& cmd) {
    CliRun r;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    std::array<char, 4096> buf;
    std::size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
    const int status = pclose(p);
    r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

/// Runs `quantscope-cli ARGS` from the build tree; stderr (progress) is discarded.
inline CliRun runCli(const std::string& args) {
    return runCommand(std::string(QS_BIN_DIR) + "/quantscope-cli " + args + " 2>/dev/null");
}

/// Quotes a path for the shell.
inline std::string q(const std::string& s) { return "'" + s + "'"; }

/// |got - want| / |want|.
inline double relErr(double got, double want) { return std::fabs(got - want) / std::fabs(want); }

} // namespace qs::test
