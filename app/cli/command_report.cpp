// SPDX-License-Identifier: MIT
// `report`: the CLI stays Qt-free, so it runs the Qt tool quantscope-report installed beside it.
#include "commands.h"
#include "base/error.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace qs::cli {

namespace {

// The folder of this executable (/proc/self/exe), where the packages install quantscope-report too.
std::filesystem::path ownFolder() {
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) throw core::Error("report: cannot find the quantscope-cli executable (/proc/self/exe): " + ec.message());
    return exe.parent_path();
}

// Runs `argv` and waits; returns its exit status (128 + signal when killed).
int runChild(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t pid = fork();
    if (pid < 0) throw core::Error(std::string("report: fork failed: ") + std::strerror(errno));
    if (pid == 0) {
        // The child's report output goes to stderr, so --json keeps stdout to one object.
        dup2(STDERR_FILENO, STDOUT_FILENO);
        execv(args[0], args.data());
        std::fprintf(stderr, "quantscope-cli: error: report: cannot run %s: %s\n", args[0], std::strerror(errno));
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) throw core::Error(std::string("report: waitpid failed: ") + std::strerror(errno));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

} // namespace

std::string reportUsage(const CliContext&) {
    return "quantscope-cli report P.qsproj --out report.html|report.pdf [--run ID] [--sections S,...]\n"
           "                      [--pareto-by-format] [--json]\n"
           "  Writes a project's report (model, Pareto chart, method comparison, the chosen run's recipe and\n"
           "  layers, weight outliers, provenance) by running quantscope-report from this program's folder.\n"
           "  Default run: the smallest run on the bits/perplexity front within 5% of fp32 perplexity.\n"
           "  --sections keeps only some of: model, pareto, methods, run, outliers, runs, provenance;\n"
           "  --pareto-by-format colours the Pareto chart per format instead of per method.\n";
}

nlohmann::json runReport(ArgList& args, CliContext& ctx) {
    const auto out = args.takeOption("out");
    const auto run = args.takeOption("run");
    const auto sections = args.takeOption("sections");
    const bool byFormat = args.takeFlag("pareto-by-format");
    const auto project = args.takePositional();
    if (!project) throw core::Error("report: missing P.qsproj");
    if (!out) throw core::Error("report: missing --out FILE (.html or .pdf)");
    args.expectEmpty();
    if (!std::filesystem::exists(*project)) throw core::Error(*project + ": no such project");
    const auto tool = ownFolder() / "quantscope-report";
    if (!std::filesystem::exists(tool))
        throw core::Error("report: " + tool.string() + " not found (install the GUI package, which provides it)");
    std::vector<std::string> argv{tool.string(), *project, "--out", *out};
    if (run) argv.insert(argv.end(), {"--run", *run});
    if (sections) argv.insert(argv.end(), {"--sections", *sections});
    if (byFormat) argv.push_back("--pareto-by-format");
    const int status = runChild(argv);
    if (status != 0) throw core::Error("report: quantscope-report failed (exit " + std::to_string(status) + ")");
    if (!ctx.json) std::printf("wrote %s\n", out->c_str());
    nlohmann::json j{{"project", *project}, {"out", *out}};
    if (run) j["run_id"] = std::stoll(*run);
    return j;
}

} // namespace qs::cli
