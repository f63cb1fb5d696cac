// SPDX-License-Identifier: MIT
// quantscope-cli: one command table; each command parses its own flags (see commands.h).
#include "commands.h"
#include "base/process.h"
#include "base/error.h"

#include <omp.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <unistd.h>

namespace {

using qs::cli::Command;

constexpr std::array kCommands{
    Command{"inspect", "list a model's weights and their distributions", qs::cli::inspectUsage, qs::cli::runInspect},
    Command{"quantize", "quantize a model's Linear weights and report the error", qs::cli::quantizeUsage,
            qs::cli::runQuantize},
    Command{"formats", "list the number formats", qs::cli::formatsUsage, qs::cli::runFormats},
    Command{"compare-formats", "every format and granularity on one layer, sorted by bits", qs::cli::compareFormatsUsage,
            qs::cli::runCompareFormats},
    Command{"eval", "perplexity of a model (and of its quantized variant, with KL divergence)", qs::cli::evalUsage,
            qs::cli::runEval},
    Command{"sweep", "evaluate a grid of recipes into a project (resumable)", qs::cli::sweepUsage, qs::cli::runSweep},
    Command{"merge", "merge projects (sweep shards) into one, dropping duplicates", qs::cli::mergeUsage,
            qs::cli::runMerge},
    Command{"runs", "list a project's runs", qs::cli::runsUsage, qs::cli::runRuns},
    Command{"export", "write a run's recipe as recipe JSON, llama.cpp overrides, safetensors or GGUF",
            qs::cli::exportUsage, qs::cli::runExport},
    Command{"report", "write a project's report as HTML or PDF (runs quantscope-report)", qs::cli::reportUsage,
            qs::cli::runReport},
    Command{"sensitivity", "per-group sensitivity to each candidate format, proxies, CLADO pair terms",
            qs::cli::sensitivityUsage, qs::cli::runSensitivity},
    Command{"mixed-precision", "per-group formats under budgets: CLADO, ILP, additive, greedy, uniform",
            qs::cli::mixedPrecisionUsage, qs::cli::runMixedPrecision},
    Command{"cost", "a recipe's cycles, speedup and energy on an accelerator cost model", qs::cli::costUsage,
            qs::cli::runCost},
    Command{"grad", "the loss and its gradient for every weight (through a recipe, straight-through)",
            qs::cli::gradUsage, qs::cli::runGrad},
    Command{"curvature", "slope, exact curvature and slice along a direction; per-layer Hessian trace/eigenvalue",
            qs::cli::curvatureUsage, qs::cli::runCurvature},
    Command{"landscape", "loss slices and 2-D grids along recipe / random / eigen directions, exact curvature (stored)",
            qs::cli::landscapeUsage, qs::cli::runLandscape},
    Command{"spans", "per-head attention spans and sparse attention's perplexity (stored)", qs::cli::spansUsage,
            qs::cli::runSpans},
    Command{"predict", "predicts recipes' quality from a project's evaluated runs (random forest, ridge; stored)",
            qs::cli::predictUsage, qs::cli::runPredict},
    Command{"misalignment", "one weight's candidate quantizations: local objective against global loss (stored)",
            qs::cli::misalignmentUsage, qs::cli::runMisalignment},
};

void printHelp() {
    std::cout << "usage: quantscope-cli COMMAND [ARGS] [--json] [--threads N]\n\nCommands:\n";
    for (const auto& c : kCommands) std::printf("  %-12s %s\n", std::string(c.name).c_str(), std::string(c.summary).c_str());
    std::cout << "\n'quantscope-cli COMMAND --help' for a command's flags. With --json one JSON object goes to\n"
                 "stdout (progress to stderr); failures exit 1 with {\"error\": \"...\"}.\n";
}

// Progress on stderr: an updating line on a terminal, a line per step otherwise.
void printProgress(long long done, long long total, const std::string& message) {
    static const bool tty = isatty(STDERR_FILENO);
    if (tty)
        std::fprintf(stderr, "\r\033[K[%lld/%lld] %s", done, total, message.c_str());
    else
        std::fprintf(stderr, "[%lld/%lld] %s\n", done, total, message.c_str());
    if (tty && done == total) std::fputc('\n', stderr);
}

} // namespace

int main(int argc, char** argv) {
    qs::core::configureProcess(argv);
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        printHelp();
        return args.empty() ? 2 : 0;
    }
    if (args[0] == "--version") {
        std::cout << "quantscope-cli " << QS_VERSION << '\n';
        return 0;
    }
    qs::core::Registries registries;
    qs::core::registerBuiltins(registries);

    const std::string name = args[0];
    qs::cli::ArgList rest(std::vector<std::string>(args.begin() + 1, args.end()));
    qs::cli::CliContext ctx{registries};
    ctx.json = rest.takeFlag("json");
    for (int i = 0; i < argc; ++i) ctx.commandLine += (i ? " " : "") + std::string(i ? argv[i] : "quantscope-cli");
    try {
        const Command* cmd = nullptr;
        for (const auto& c : kCommands)
            if (c.name == name) cmd = &c;
        if (!cmd) throw qs::core::Error("unknown command '" + name + "' (see quantscope-cli --help)");
        if (rest.takeFlag("help")) {
            std::cout << cmd->usage(ctx);
            return 0;
        }
        if (auto threads = rest.takeOption("threads")) {
            const int n = std::atoi(threads->c_str());
            if (n < 1) throw qs::core::Error("--threads " + *threads + ": expected a positive integer");
            omp_set_num_threads(n);
        }
        ctx.job.progress = printProgress;
        const nlohmann::json result = cmd->run(rest, ctx);
        // Replace, not throw: a message may quote invalid UTF-8 from a user's file.
        if (ctx.json) std::cout << result.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
        return 0;
    } catch (const std::exception& e) {
        if (ctx.json)
            std::cout << nlohmann::json{{"error", e.what()}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                      << '\n';
        else
            std::cerr << "quantscope-cli: error: " << e.what() << '\n';
        return 1;
    }
}
